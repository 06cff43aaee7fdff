// Configuration: defaults, then the TOML file, then the environment; every
// bad key or value is an error that names it.
#include "common/config.h"
#include "common/security.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace common {
namespace {

// A fake environment for LoadConfig.
class Env {
 public:
  Env() = default;
  Env(std::initializer_list<std::pair<const std::string, std::string>> vars) : vars_(vars) {}
  std::function<const char*(const char*)> Getenv() const {
    return [this](const char* name) -> const char* {
      auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> vars_;
};

Config MustLoad(const std::string& path, const Env& env = Env()) {
  Result<Config> config = LoadConfig(path, env.Getenv());
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  return config.value();
}

// The error LoadConfig gives; fails the test if it gave none.
std::string ErrorOf(const std::string& path, const Env& env = Env()) {
  Result<Config> config = LoadConfig(path, env.Getenv());
  REQUIRE_FALSE_MESSAGE(config.ok(), "expected an error, got a config");
  CHECK(config.status().code() == Code::kInvalid);
  return config.status().message();
}

// Evaluates `text` once: doctest builds the message lazily, and re-running
// ErrorOf while it reports would re-enter its reporter.
#define CHECK_CONTAINS(text, part)                                               \
  do {                                                                           \
    const std::string contains_text_ = (text);                                   \
    const std::string contains_part_ = (part);                                   \
    CHECK_MESSAGE(contains_text_.find(contains_part_) != std::string::npos,      \
                  "\"" << contains_text_ << "\" does not mention \"" << contains_part_ << "\""); \
  } while (false)

TEST_CASE("with no file and no environment every setting has its default") {
  const Config c = MustLoad("");
  CHECK(c.bus_publish == "tcp://127.0.0.1:7401");
  CHECK(c.bus_subscribe == "tcp://127.0.0.1:7402");
  CHECK(c.control == "tcp://127.0.0.1:7403");
  CHECK(c.work == "tcp://127.0.0.1:7404");
  CHECK(c.enable_scheduler);
  CHECK(c.daily_run_time == "02:00");
  CHECK(c.timezone.empty());
  CHECK(c.misfire_grace_s == 3600);
  CHECK(c.purchase_weekday == "tuesday");
  CHECK(c.overlap == "skip");
  CHECK(c.input_dir == "./data/inputs");
  CHECK(c.output_dir == "./data/outputs");
  CHECK(c.state_dir == "./var/broker");
  CHECK(c.log_dir == "./var/logs");
  CHECK(c.max_attempts == 3);
  CHECK(c.backoff_initial_s == doctest::Approx(30));
  CHECK(c.backoff_max_s == doctest::Approx(900));
  CHECK(c.retry_on == "transient");
  CHECK(c.sync_writes);  // durable by default
  CHECK(c.heartbeat_ms == 1000);
  CHECK(c.heartbeat_liveness == 3);
  CHECK(c.failure_alert_threshold == 3);
  CHECK(c.event_retention_days == 30);
  CHECK(c.runner_id.empty());
  CHECK(c.slots == 1);
  CHECK(c.pipeline_command.empty());
  CHECK(c.run_timeout_s == 3600);
  CHECK(c.kill_grace_s == 10);
  CHECK(c.drain_timeout_s == 60);
  CHECK(c.log_level == "info");
}

TEST_CASE("values in the TOML file replace the defaults") {
  testing::TempDir dir;
  const std::string path = dir.WriteFile("daybreak.toml", R"(
[endpoints]
bus_publish = "ipc:///run/daybreak/pub"
work = "tcp://0.0.0.0:9004"

[schedule]
enable_scheduler = false
daily_run_time = "05:45"
timezone = "America/Chicago"
misfire_grace_s = 120
purchase_weekday = "Thu"
overlap = "queue"

[paths]
input_dir = "/srv/in"
output_dir = "/srv/out"
state_dir = "/srv/state"
log_dir = "/srv/logs"

[retry]
max_attempts = 7
backoff_initial_s = 2.5
backoff_max_s = 60
retry_on = "any"

[broker]
sync_writes = false
heartbeat_ms = 250
heartbeat_liveness = 4
failure_alert_threshold = 2
event_retention_days = 9

[runner]
runner_id = "host-a"
slots = 4
pipeline_command = ["/opt/p", "--fast"]
run_timeout_s = 90
kill_grace_s = 0
drain_timeout_s = 5

[log]
level = "debug"
)");
  const Config c = MustLoad(path);
  CHECK(c.bus_publish == "ipc:///run/daybreak/pub");
  CHECK(c.bus_subscribe == "tcp://127.0.0.1:7402");  // untouched
  CHECK(c.work == "tcp://0.0.0.0:9004");
  CHECK_FALSE(c.enable_scheduler);
  CHECK(c.daily_run_time == "05:45");
  CHECK(c.timezone == "America/Chicago");
  CHECK(c.misfire_grace_s == 120);
  CHECK(c.purchase_weekday == "Thu");
  CHECK(c.overlap == "queue");
  CHECK(c.input_dir == "/srv/in");
  CHECK(c.output_dir == "/srv/out");
  CHECK(c.state_dir == "/srv/state");
  CHECK(c.log_dir == "/srv/logs");
  CHECK(c.max_attempts == 7);
  CHECK(c.backoff_initial_s == doctest::Approx(2.5));
  CHECK(c.backoff_max_s == doctest::Approx(60));  // an integer where a number goes
  CHECK(c.retry_on == "any");
  CHECK_FALSE(c.sync_writes);
  CHECK(c.heartbeat_ms == 250);
  CHECK(c.heartbeat_liveness == 4);
  CHECK(c.failure_alert_threshold == 2);
  CHECK(c.event_retention_days == 9);
  CHECK(c.runner_id == "host-a");
  CHECK(c.slots == 4);
  CHECK(c.pipeline_command == std::vector<std::string>{"/opt/p", "--fast"});
  CHECK(c.run_timeout_s == 90);
  CHECK(c.kill_grace_s == 0);
  CHECK(c.drain_timeout_s == 5);
  CHECK(c.log_level == "debug");
}

TEST_CASE("the environment overrides the file and the defaults") {
  testing::TempDir dir;
  const std::string path = dir.WriteFile("daybreak.toml",
                                         "[schedule]\ndaily_run_time = \"05:45\"\n"
                                         "misfire_grace_s = 120\n"
                                         "[paths]\ninput_dir = \"/from/file\"\n");

  SUBCASE("the earlier scheduler's names") {
    const Config c = MustLoad(path, Env{{"ENABLE_SCHEDULER", "false"},
                                        {"DAILY_RUN_TIME", "06:15"},
                                        {"INPUT_DIR", "/from/env"},
                                        {"OUTPUT_DIR", "/out/env"},
                                        {"MISFIRE_GRACE", "30"},
                                        {"TIMEZONE", "Asia/Tokyo"}});
    CHECK_FALSE(c.enable_scheduler);
    CHECK(c.daily_run_time == "06:15");
    CHECK(c.input_dir == "/from/env");
    CHECK(c.output_dir == "/out/env");
    CHECK(c.misfire_grace_s == 30);
    CHECK(c.timezone == "Asia/Tokyo");
  }
  SUBCASE("DAYBREAK_ names") {
    const Config c = MustLoad(path, Env{{"DAYBREAK_ENABLE_SCHEDULER", "0"},
                                        {"DAYBREAK_INPUT_DIR_ROOT", "/root/in"},
                                        {"DAYBREAK_MAX_ATTEMPTS", "5"},
                                        {"DAYBREAK_BACKOFF_INITIAL_S", "1.5"},
                                        {"DAYBREAK_SYNC_WRITES", "yes"},
                                        {"DAYBREAK_OVERLAP", "queue"},
                                        {"DAYBREAK_RETRY_ON", "any"},
                                        {"DAYBREAK_WORK", "tcp://10.0.0.1:1"},
                                        {"DAYBREAK_PIPELINE_COMMAND", "  /opt/p  --x   y "},
                                        {"DAYBREAK_LOG_LEVEL", "warn"}});
    CHECK_FALSE(c.enable_scheduler);
    CHECK(c.input_dir == "/root/in");
    CHECK(c.daily_run_time == "05:45");  // from the file
    CHECK(c.misfire_grace_s == 120);    // from the file
    CHECK(c.max_attempts == 5);
    CHECK(c.backoff_initial_s == doctest::Approx(1.5));
    CHECK(c.sync_writes);  // the environment wins over the file's false
    CHECK(c.overlap == "queue");
    CHECK(c.retry_on == "any");
    CHECK(c.work == "tcp://10.0.0.1:1");
    CHECK(c.pipeline_command == std::vector<std::string>{"/opt/p", "--x", "y"});
    CHECK(c.log_level == "warn");
  }
  SUBCASE("with both names set, the DAYBREAK_ one wins") {
    const Config c = MustLoad(path, Env{{"MISFIRE_GRACE", "30"}, {"DAYBREAK_MISFIRE_GRACE", "45"}});
    CHECK(c.misfire_grace_s == 45);
  }
  SUBCASE("an unset variable leaves the file's value") {
    const Config c = MustLoad(path, Env{{"SOMETHING_ELSE", "1"}});
    CHECK(c.daily_run_time == "05:45");
    CHECK(c.input_dir == "/from/file");
  }
}

TEST_CASE("a bad environment value is an error naming the variable") {
  SUBCASE("a number that is not one") {
    const std::string e = ErrorOf("", Env{{"MISFIRE_GRACE", "an hour"}});
    CHECK_CONTAINS(e, "MISFIRE_GRACE");
    CHECK_CONTAINS(e, "an hour");
  }
  SUBCASE("a number with trailing text") {
    CHECK_CONTAINS(ErrorOf("", Env{{"DAYBREAK_SLOTS", "4x"}}), "DAYBREAK_SLOTS");
  }
  SUBCASE("a number too large for its field") {
    CHECK_CONTAINS(ErrorOf("", Env{{"DAYBREAK_HEARTBEAT_MS", "99999999999"}}),
                   "DAYBREAK_HEARTBEAT_MS");
  }
  SUBCASE("a boolean that is not one") {
    const std::string e = ErrorOf("", Env{{"ENABLE_SCHEDULER", "maybe"}});
    CHECK_CONTAINS(e, "ENABLE_SCHEDULER");
    CHECK_CONTAINS(e, "maybe");
  }
  SUBCASE("a run time that is not HH:MM") {
    const std::string e = ErrorOf("", Env{{"DAILY_RUN_TIME", "7am"}});
    CHECK_CONTAINS(e, "daily_run_time");
    CHECK_CONTAINS(e, "7am");
  }
}

TEST_CASE("an unknown key in the file is an error naming it") {
  testing::TempDir dir;
  SUBCASE("in a known section") {
    const std::string e =
        ErrorOf(dir.WriteFile("c.toml", "[schedule]\ndaily_run_tim = \"02:00\"\n"));
    CHECK_CONTAINS(e, "schedule.daily_run_tim");
  }
  SUBCASE("in an unknown section") {
    CHECK_CONTAINS(ErrorOf(dir.WriteFile("c.toml", "[sched]\nenable_scheduler = true\n")),
                   "sched.enable_scheduler");
  }
  SUBCASE("outside any section") {
    CHECK_CONTAINS(ErrorOf(dir.WriteFile("c.toml", "slots = 2\n")), "\"slots\"");
  }
  SUBCASE("a nested table") {
    CHECK_CONTAINS(ErrorOf(dir.WriteFile("c.toml", "[runner.extra]\nx = 1\n")), "runner.extra");
  }
}

TEST_CASE("a value of the wrong type in the file is an error naming the key") {
  testing::TempDir dir;
  struct Case {
    const char* toml;
    const char* key;
  };
  const std::vector<Case> cases = {
      {"[schedule]\nmisfire_grace_s = \"60\"\n", "schedule.misfire_grace_s"},
      {"[schedule]\nmisfire_grace_s = 1.5\n", "schedule.misfire_grace_s"},
      {"[schedule]\nenable_scheduler = \"false\"\n", "schedule.enable_scheduler"},
      {"[schedule]\ndaily_run_time = 200\n", "schedule.daily_run_time"},
      {"[retry]\nbackoff_initial_s = \"1\"\n", "retry.backoff_initial_s"},
      {"[runner]\npipeline_command = \"/opt/p --fast\"\n", "runner.pipeline_command"},
      {"[runner]\npipeline_command = [\"/opt/p\", 3]\n", "runner.pipeline_command"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.toml);
    const std::string path = dir.WriteFile("c.toml", c.toml);
    const std::string e = ErrorOf(path);
    CHECK_CONTAINS(e, c.key);
    CHECK_CONTAINS(e, path);
  }
}

TEST_CASE("an integer too large for its field is an error, not a wrapped value") {
  testing::TempDir dir;
  // 2^32 + 3 would wrap to 3 attempts; 5e9 s would wrap to a positive grace.
  SUBCASE("max_attempts") {
    CHECK_CONTAINS(ErrorOf(dir.WriteFile("c.toml", "[retry]\nmax_attempts = 4294967299\n")),
                   "retry.max_attempts");
  }
  SUBCASE("misfire_grace_s") {
    CHECK_CONTAINS(ErrorOf(dir.WriteFile("c.toml", "[schedule]\nmisfire_grace_s = 5000000000\n")),
                   "schedule.misfire_grace_s");
  }
}

TEST_CASE("values that cannot make sense are rejected naming the setting") {
  testing::TempDir dir;
  struct Case {
    const char* toml;
    const char* names;  // the key
    const char* value;  // and, where useful, the bad value
  };
  const std::vector<Case> cases = {
      {"[schedule]\ndaily_run_time = \"24:00\"\n", "daily_run_time", "24:00"},
      {"[schedule]\ndaily_run_time = \"2:00\"\n", "daily_run_time", "2:00"},
      {"[schedule]\ntimezone = \"Mars/Olympus_Mons\"\n", "timezone", "Mars/Olympus_Mons"},
      {"[schedule]\noverlap = \"parallel\"\n", "overlap", "parallel"},
      {"[schedule]\npurchase_weekday = \"someday\"\n", "purchase_weekday", "someday"},
      {"[schedule]\nmisfire_grace_s = -1\n", "misfire_grace_s", ""},
      {"[retry]\nretry_on = \"sometimes\"\n", "retry_on", "sometimes"},
      {"[retry]\nmax_attempts = 0\n", "max_attempts", ""},
      {"[retry]\nbackoff_initial_s = 100\nbackoff_max_s = 10\n", "backoff_max_s", ""},
      {"[broker]\nheartbeat_ms = 5\n", "heartbeat_ms", ""},
      {"[broker]\nheartbeat_liveness = 1\n", "heartbeat_liveness", ""},
      // A lease must outlast two of the heartbeats that renew it.
      {"[broker]\nheartbeat_ms = 1000\nlease_ms = 1500\n", "broker.lease_ms", "2000"},
      {"[broker]\nlease_grace_ms = -1\n", "lease_grace_ms", ""},
      {"[runner]\nslots = 0\n", "slots", ""},
      {"[runner]\nisolation = \"maybe\"\n", "runner.isolation", "maybe"},
      {"[runner]\nsandbox_read = [\"opt/tools\"]\n", "runner.sandbox_read", "opt/tools"},
      {"[runner]\nsandbox_write = [\"scratch\"]\n", "runner.sandbox_write", "scratch"},
      {"[runner]\nmemory_max_mb = -1\n", "memory_max_mb", ""},
      {"[endpoints]\ncontrol = \"localhost:7403\"\n", "endpoints", "localhost:7403"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.toml);
    const std::string e = ErrorOf(dir.WriteFile("c.toml", c.toml));
    CHECK_CONTAINS(e, c.names);
    CHECK_CONTAINS(e, c.value);
  }
}

TEST_CASE("the dashboard tokens are secrets: read from files, at least 16 characters, never in an error") {
  testing::TempDir dir;
  const std::string operate = dir.WriteFile("operator.token", "op-0123456789abcdef\n");
  const std::string read = dir.WriteFile("read.token", "rd-0123456789abcdef");
  const Config c = MustLoad(dir.WriteFile("c.toml", "[broker]\nhttp_operator_token_file = \"" + operate +
                                                        "\"\nhttp_read_token_file = \"" + read + "\"\n"));
  CHECK(c.http_operator_token == "op-0123456789abcdef");
  CHECK(c.http_read_token == "rd-0123456789abcdef");
  CHECK(MustLoad("").http_operator_token.empty());  // unset by default: read-only

  std::string e = ErrorOf("", Env{{"DAYBREAK_HTTP_OPERATOR_TOKEN", "short-secret"}});
  CHECK_CONTAINS(e, "broker.http_operator_token");
  CHECK_CONTAINS(e, "16");
  CHECK(e.find("short-secret") == std::string::npos);
  e = ErrorOf("", Env{{"DAYBREAK_HTTP_OPERATOR_TOKEN", "same-0123456789abc"},
                      {"DAYBREAK_HTTP_READ_TOKEN", "same-0123456789abc"}});
  CHECK_CONTAINS(e, "must differ");
  CHECK(e.find("same-0123456789abc") == std::string::npos);
}

TEST_CASE("broker.http_tokens give each token a name, a role and teams, read from its file") {
  testing::TempDir dir;
  const std::string credit = dir.WriteFile("credit.token", "credit-0123456789abcdef\n");
  const std::string audit = dir.WriteFile("audit.token", "audit-0123456789abcdef");
  Config c = MustLoad("", Env{{"DAYBREAK_HTTP_OPERATOR_TOKEN", "op-0123456789abcdef"}});
  c.http_tokens = {"credit:operate@3+general=" + credit, "auditors:read=" + audit};
  auto grants = HttpGrants(c);
  REQUIRE_MESSAGE(grants.ok(), grants.status().ToString());
  REQUIRE(grants.value().size() == 3);
  CHECK(grants.value()[0].name == "operator");
  CHECK(grants.value()[0].operate);
  CHECK(grants.value()[0].teams.empty());
  const HttpGrant& g = grants.value()[1];
  CHECK(g.name == "credit");
  CHECK(g.token == "credit-0123456789abcdef");
  CHECK(g.operate);
  CHECK(g.teams == std::vector<std::uint32_t>{3, 0});
  CHECK(g.MayActFor(3));
  CHECK(g.MayActFor(0));
  CHECK_FALSE(g.MayActFor(4));
  CHECK_FALSE(grants.value()[2].operate);
  CHECK(ValidateSecurity(c, /*broker=*/true).ok());

  const std::string weak = dir.WriteFile("weak.token", "short\n");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"credit=" + credit, "<name>:<read|operate>"},
      {"credit:admin=" + credit, "read or operate"},
      {"cre dit:read=" + credit, "the name"},
      {"credit:read@x=" + credit, "teams"},
      {"credit:read=" + dir.path().string() + "/none.token", "cannot read"},
      {"credit:read=" + weak, "16 characters"},
      {"operator:read=" + audit, "used twice"},
      {"copy:read=" + dir.WriteFile("copy.token", "op-0123456789abcdef"), "the same"},
  };
  for (const auto& [entry, why] : bad) {
    CAPTURE(entry);
    c.http_tokens = {entry};
    const Status s = ValidateSecurity(c, /*broker=*/true);
    REQUIRE_FALSE(s.ok());
    CHECK_CONTAINS(s.message(), "broker.http_tokens");
    CHECK_CONTAINS(s.message(), why);
    CHECK(s.message().find("0123456789abcdef") == std::string::npos);  // never a token
  }
  CHECK(ValidateSecurity(c, /*broker=*/false).ok());  // only the broker reads them
}

TEST_CASE("a TOML syntax error names the file and the line") {
  testing::TempDir dir;
  const std::string path =
      dir.WriteFile("broken.toml", "[schedule]\ndaily_run_time = \"02:00\"\nmisfire_grace_s = = 3\n");
  const std::string e = ErrorOf(path);
  CHECK_CONTAINS(e, path + ":3:");
}

TEST_CASE("a missing config file is an error naming it") {
  testing::TempDir dir;
  const std::string path = dir.Sub("absent.toml");
  CHECK_CONTAINS(ErrorOf(path), path);
}

TEST_CASE("the lease keys default to heartbeat x liveness and a 2 s grace, and can be set") {
  testing::TempDir dir;
  const Config defaults = MustLoad("");
  CHECK(defaults.lease_ms == 0);  // the broker derives heartbeat_ms x heartbeat_liveness
  CHECK(defaults.lease_grace_ms == 2000);
  const Config set = MustLoad(dir.WriteFile("c.toml", "[broker]\nlease_ms = 2000\nlease_grace_ms = 0\n"),
                              Env{{"DAYBREAK_LEASE_GRACE_MS", "750"}});
  CHECK(set.lease_ms == 2000);
  CHECK(set.lease_grace_ms == 750);
}

TEST_CASE("ValidateConfig accepts the defaults") {
  CHECK(ValidateConfig(Config()).ok());
}

}  // namespace
}  // namespace common
