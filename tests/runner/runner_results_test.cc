// Runner: a result file outside the bounds and a staging tree with links,
// end to end through a run, against a fake broker and a fake process host.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/team.h"
#include "tests/runner/runner_harness.h"

namespace {

using namespace testing;
using schemas::RunnerMessage;
namespace fs = std::filesystem;
namespace outcome = schemas::outcome;
namespace runner_msg = schemas::runner_msg;

TEST_CASE("a run whose result file is a FIFO fails clearly, sends no metrics, promotes nothing") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const std::string staging = h.host.spawned[0].cwd;
  REQUIRE(::mkfifo(h.SpawnEnv(0, "DAYBREAK_RESULT_FILE").c_str(), 0600) == 0);
  std::ofstream(staging + "/output/purchase.csv") << "today";
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  const RunnerMessage result = h.Expect(runner_msg::kResult);
  CHECK(result.outcome == outcome::kFailed);
  CHECK(result.error.find("result file invalid: ") == 0);
  CHECK(result.error.find("FIFO") != std::string::npos);
  CHECK(result.metrics.empty());
  const auto dirs = common::DirsFor(7, h.settings.input_root, h.settings.output_root);
  CHECK_FALSE(fs::exists(dirs.output + "/purchase.csv"));
  CHECK_FALSE(fs::exists(staging));
}

TEST_CASE("a run with 300 metrics fails instead of sending what the broker refuses") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  std::string json = "{";
  for (int i = 0; i < 300; ++i) json += (i ? ", \"m" : "\"m") + std::to_string(i) + "\": 1";
  std::ofstream(h.SpawnEnv(0, "DAYBREAK_RESULT_FILE")) << json << "}";
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  const RunnerMessage result = h.Expect(runner_msg::kResult);
  CHECK(result.outcome == outcome::kFailed);
  CHECK(result.error.find("result file invalid: more than 64 numeric metrics") == 0);
  CHECK(result.metrics.empty());
}

TEST_CASE("a success whose staged output holds a symlink is transient and publishes nothing") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const std::string staging = h.host.spawned[0].cwd;
  std::ofstream(staging + "/output/purchase.csv") << "today";
  fs::create_symlink("/etc/shadow", staging + "/output_share/shadow");
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  CHECK(h.Expect(runner_msg::kResult).outcome == outcome::kSucceeded);
  auto promote = RunnerHarness::Message(schemas::broker_msg::kPromote, "r1", 1);
  promote.token = "token-r1-1";
  const auto answer = h.Deliver(promote);
  REQUIRE(answer.size() == 1);
  const RunnerMessage& result = answer[0];
  CHECK(result.type == runner_msg::kPromoted);
  CHECK(result.outcome == outcome::kTransient);
  CHECK(result.error.find("refusing to promote " + staging + "/output_share/shadow") == 0);
  const auto dirs = common::DirsFor(7, h.settings.input_root, h.settings.output_root);
  CHECK_FALSE(fs::exists(fs::symlink_status(dirs.share + "/shadow")));
  CHECK_FALSE(fs::exists(dirs.output + "/purchase.csv"));
  CHECK_FALSE(fs::exists(staging));
}

}  // namespace
