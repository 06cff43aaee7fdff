// PipelineEnvironment: what a pipeline sees of the contract.
#include "runner/pipeline_env.h"

#include <algorithm>
#include <filesystem>

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

namespace {

std::string Get(const std::vector<std::string>& env, const std::string& name) {
  std::string found = "<unset>";
  int count = 0;
  for (const std::string& e : env) {
    if (e.starts_with(name + "=")) {
      found = e.substr(name.size() + 1);
      ++count;
    }
  }
  CHECK_MESSAGE(count <= 1, name << " is set " << count << " times");
  return found;
}

TEST_CASE("the pipeline gets the contract's variables and not the runner's stale ones") {
  testing::TempDir dir;
  schemas::BrokerMessage d;
  d.run_id = "r42";
  d.attempt = 3;
  d.pdate = "2024-06-04";
  const char* inherited[] = {"PATH=/usr/bin", "DAYBREAK_RUN_ID=stale", "DAYBREAK_X=1", nullptr};

  SUBCASE("a team") {
    d.team = 7;
    auto w = runner::Workspace::Prepare(common::DirsFor(7, dir.Sub("in"), dir.Sub("out")),
                                        d.run_id, d.attempt, d.pdate);
    REQUIRE(w.ok());
    const auto env =
        runner::PipelineEnvironment(d, w.value(), "runner-a", inherited, "deployment-x");
    CHECK(Get(env, "PATH") == "/usr/bin");
    CHECK(Get(env, "DAYBREAK_X") == "<unset>");
    CHECK(Get(env, "DAYBREAK_RUN_ID") == "r42");
    CHECK(Get(env, "DAYBREAK_TEAM") == "7");
    CHECK(Get(env, "DAYBREAK_PDATE") == "2024-06-04");
    CHECK(Get(env, "DAYBREAK_ATTEMPT") == "3");
    CHECK(Get(env, "DAYBREAK_INPUT_DIR") == w.value().dirs().input);
    CHECK(Get(env, "DAYBREAK_OUTPUT_DIR") == w.value().staging_output());
    CHECK(Get(env, "DAYBREAK_SHARE_DIR") == w.value().staging_share());
    CHECK(Get(env, "DAYBREAK_RESULT_FILE") == w.value().result_file());
    CHECK(Get(env, "DAYBREAK_RUNNER_ID") == "runner-a");
    CHECK(Get(env, "DAYBREAK_DEPLOYMENT") == "deployment-x");
    CHECK(Get(env, "DAYBREAK_LOCAL_DATE") == "<unset>");  // a dispatch that names none
  }
  SUBCASE("the run's local date and zone, for its inputs") {
    d.team = 7;
    d.local_date = "2026-11-26";
    d.zone = "Pacific/Auckland";
    auto w = runner::Workspace::Prepare(common::DirsFor(7, dir.Sub("in"), dir.Sub("out")),
                                        d.run_id, d.attempt, d.pdate);
    REQUIRE(w.ok());
    const auto env = runner::PipelineEnvironment(d, w.value(), "runner-a", inherited);
    CHECK(Get(env, "DAYBREAK_LOCAL_DATE") == "2026-11-26");
    CHECK(Get(env, "DAYBREAK_LOCAL_ZONE") == "Pacific/Auckland");
  }
  SUBCASE("the general run has an empty team") {
    d.team = common::kGeneralTeam;
    auto w = runner::Workspace::Prepare(common::DirsFor(0, dir.Sub("in"), dir.Sub("out")),
                                        d.run_id, d.attempt, d.pdate);
    REQUIRE(w.ok());
    const auto env = runner::PipelineEnvironment(d, w.value(), "runner-a", inherited);
    CHECK(Get(env, "DAYBREAK_TEAM").empty());
  }
  SUBCASE("no inherited environment at all") {
    auto w = runner::Workspace::Prepare(common::DirsFor(1, dir.Sub("in"), dir.Sub("out")),
                                        d.run_id, d.attempt, d.pdate);
    REQUIRE(w.ok());
    const auto env = runner::PipelineEnvironment(d, w.value(), "runner-a", nullptr);
    CHECK(env.size() == 12);  // the contract's ten, TMPDIR and HOME
  }
}

TEST_CASE("a pipeline inherits only the allow-list, and gets its team's variables and its own TMPDIR") {
  testing::TempDir dir;
  schemas::BrokerMessage d;
  d.run_id = "r1";
  d.attempt = 1;
  d.team = 3;
  d.env = {{"DB_HOST", "db.team3"}, {"LANG", "de_DE.UTF-8"}, {"DAYBREAK_RUN_ID", "forged"},
           {"TMPDIR", "/tmp"}, {"bad-name", "x"}};
  auto w = runner::Workspace::Prepare(common::DirsFor(3, dir.Sub("in"), dir.Sub("out")), d.run_id,
                                      d.attempt, "2024-06-04");
  REQUIRE(w.ok());
  const char* inherited[] = {"PATH=/usr/bin", "LANG=C.UTF-8", "LC_TIME=C", "TZ=UTC",
                             "AWS_SECRET_ACCESS_KEY=runner-secret", "DAYBREAK_CONFIG=/etc/x.toml",
                             "SSL_CERT_FILE=/etc/ssl/x.pem", nullptr};
  const auto env = runner::PipelineEnvironment(d, w.value(), "runner-a", inherited, "dep",
                                               {"SSL_CERT_FILE"});
  CHECK(Get(env, "PATH") == "/usr/bin");
  CHECK(Get(env, "LC_TIME") == "C");
  CHECK(Get(env, "TZ") == "UTC");
  CHECK(Get(env, "AWS_SECRET_ACCESS_KEY") == "<unset>");  // credentials stay with the runner
  CHECK(Get(env, "DAYBREAK_CONFIG") == "<unset>");
  CHECK(Get(env, "SSL_CERT_FILE") == "/etc/ssl/x.pem");  // runner.pass_env
  CHECK(Get(env, "DB_HOST") == "db.team3");
  CHECK(Get(env, "LANG") == "de_DE.UTF-8");  // the team's wins over the runner's
  CHECK(Get(env, "DAYBREAK_RUN_ID") == "r1");  // never the team's
  CHECK(Get(env, "bad-name") == "<unset>");
  CHECK(Get(env, "TMPDIR") == w.value().staging_tmp());
  CHECK(Get(env, "HOME") == w.value().staging_tmp());
  CHECK(std::filesystem::is_directory(w.value().staging_tmp()));
}

}  // namespace
