// What common::Daemon does for the real processes: the runner's SIGCHLD is
// blocked in every thread (so its signalfd sees every child's exit), and the
// broker and runner keep their flags and exit codes.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/support/cluster.h"

namespace {

// SigBlk of every thread of `pid`, from /proc.
std::vector<std::uint64_t> ThreadSignalMasks(pid_t pid) {
  std::vector<std::uint64_t> masks;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("SigBlk:")) masks.push_back(std::stoull(line.substr(7), nullptr, 16));
    }
  }
  return masks;
}

}  // namespace

TEST_CASE("every thread of the runner blocks SIGCHLD, logging's and ZeroMQ's included") {
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  const pid_t pid = cluster.runner("runner-1").pid();
  // Main, the log flusher, and ZeroMQ's I/O and reaper threads once it connects.
  std::vector<std::uint64_t> masks;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((masks = ThreadSignalMasks(pid)).size() < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(masks.size() >= 4);
  for (std::uint64_t mask : masks) CHECK(((mask >> (SIGCHLD - 1)) & 1) == 1);
}

TEST_CASE("the broker and runner keep their flags and exit codes") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  std::string out;
  CHECK(cluster.RunTool({"daybreak-broker", "--help"}, &out) == 0);
  CHECK(out.find("daybreak-broker: Daybreak's event bus, run state and dispatcher") != std::string::npos);
  CHECK(out.find("--config") != std::string::npos);
  CHECK(cluster.RunTool({"daybreak-runner", "--help"}, &out) == 0);
  for (const char* flag : {"--config", "--id", "--slots", "--noop"}) {
    CHECK(out.find(flag) != std::string::npos);
  }
  CHECK(cluster.RunTool({"daybreak-runner", "--slots", "0"}, &out) != 0);  // out of range
  CHECK(cluster.RunTool({"daybreak-broker", "--no-such-flag"}, &out) != 0);
  // The cluster's broker holds the store and the endpoints: a second one fails.
  CHECK(cluster.RunTool({"daybreak-broker"}, &out) == 1);
}

TEST_CASE("SIGHUP reloads the log level; a bad file keeps the running configuration and says why") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  const std::string config = cluster.root() + "/runner.toml";
  std::ofstream(config) << "[log]\nlevel = \"warn\"\n";
  const std::string log = cluster.root() + "/logs/reloading-runner.log";
  testing::TestProcess runner({std::string(DAYBREAK_BIN_DIR) + "/daybreak-runner", "--id", "reloading",
                               "--config", config},
                              cluster.Environment(), log);
  // At "warn" the start's info lines are not written; wait for it to serve.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ThreadSignalMasks(runner.pid()).size() < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Blocked in every thread but the reloader, which waits in sigtimedwait
  // (the kernel shows a waited signal unblocked while it waits).
  int open_to_hup = 0;
  for (std::uint64_t mask : ThreadSignalMasks(runner.pid())) open_to_hup += ((mask >> (SIGHUP - 1)) & 1) == 0;
  CHECK(open_to_hup <= 1);
  CHECK(testing::ReadFile(log).find("says hello") == std::string::npos);

  std::ofstream(config) << "[log]\nlevel = \"info\"\n";
  runner.Signal(SIGHUP);
  CHECK(testing::WaitForText(log, "SIGHUP: reloaded " + config + ": log level info"));

  std::ofstream(config) << "[log]\nlevel = \"loud\"\n";
  runner.Signal(SIGHUP);
  CHECK(testing::WaitForText(log, "the running configuration stays"));
  std::ofstream(config) << "[log\nlevel = \n";  // not TOML at all
  runner.Signal(SIGHUP);
  CHECK(testing::WaitForText(log, "not reloaded, the running configuration stays"));
  CHECK(runner.running());  // a reload never stops it
  runner.Stop(SIGTERM, std::chrono::seconds(5));
}

TEST_CASE("admin reload and SIGHUP give the broker new retry defaults and dashboard tokens; a bad file changes nothing") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  cluster.StopBroker(SIGTERM);
  const std::string config = cluster.root() + "/broker.toml";
  const std::string token_file = cluster.root() + "/operator.token";
  const std::string token = "a-reloaded-operator-token-0123";
  std::ofstream(token_file) << token << "\n";
  std::ofstream(config) << "[retry]\nmax_attempts = 2\n";
  const std::string log = cluster.root() + "/logs/reloading-broker.log";
  testing::TestProcess broker({std::string(DAYBREAK_BIN_DIR) + "/daybreak-broker", "--config", config},
                              cluster.Environment(), log);
  REQUIRE(cluster.WaitForBroker());
  for (std::uint32_t id : {1u, 2u, 3u, 4u}) {
    schemas::TeamRecord team;
    team.id = id;
    cluster.AddTeam(team);
  }
  // No runner: each run waits, with the attempts it was admitted with.
  CHECK(cluster.Trigger(1).max_attempts == 2);
  const std::string http = cluster.endpoint("http");
  httplib::Client client(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  client.set_connection_timeout(5);
  auto role = [&] {
    auto res = client.Get("/api/access", {{"Authorization", "Bearer " + token}});
    REQUIRE(res);
    return nlohmann::json::parse(res->body)["role"].get<std::string>();
  };
  CHECK(role() == "none");

  std::ofstream(config) << "[retry]\nmax_attempts = 5\n[broker]\nhttp_operator_token_file = \"" << token_file << "\"\n";
  std::string out;
  REQUIRE_MESSAGE(cluster.RunTool({"daybreak", "admin", "reload"}, &out) == 0, out);
  CHECK(out.find("reloaded: log level") != std::string::npos);
  CHECK(out.find("1 dashboard token(s), max attempts 5") != std::string::npos);
  CHECK(out.find(token) == std::string::npos);  // a secret never in what it says
  CHECK(testing::WaitForText(log, "admin.reload: reloaded " + config));
  // Applied by the loop's next turn: the next run, and the next request.
  CHECK(cluster.Trigger(2).max_attempts == 5);
  CHECK(role() == "operate");

  // A file that does not check: nothing changes, and the answer says why.
  std::ofstream(config) << "[retry]\nmax_attempts = 0\n";
  CHECK(cluster.RunTool({"daybreak", "admin", "reload"}, &out) == 1);
  CHECK(out.find("not reloaded, the running configuration stays") != std::string::npos);
  CHECK(out.find("max_attempts") != std::string::npos);
  CHECK(cluster.Trigger(3).max_attempts == 5);
  CHECK(role() == "operate");

  // SIGHUP takes the same path.
  std::ofstream(config) << "[retry]\nmax_attempts = 4\n";
  broker.Signal(SIGHUP);
  CHECK(testing::WaitForText(log, "SIGHUP: reloaded " + config));
  CHECK(cluster.Trigger(4).max_attempts == 4);
  CHECK(role() == "none");  // the token left the file, so it left the broker
  // Every reload is in the audit log with what it changed.
  const std::string audit = testing::ReadFile(cluster.root() + "/var/logs/audit.jsonl");
  CHECK(audit.find("\"op\":\"admin.reload\"") != std::string::npos);
  CHECK(audit.find("max attempts 5") != std::string::npos);
  CHECK(broker.running());
  broker.Stop(SIGTERM, std::chrono::seconds(10));
}

TEST_CASE("--check-config says a good file is good and a bad one is bad, for every daemon, and starts nothing") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  const std::string good = cluster.root() + "/good.toml";
  const std::string bad = cluster.root() + "/bad.toml";
  std::ofstream(good) << "[retry]\nmax_attempts = 5\n";
  std::ofstream(bad) << "[retry]\nmax_attempts = 0\n";
  for (const std::string daemon : {"daybreak-broker", "daybreak-ticker", "daybreak-runner", "daybreak-notifier"}) {
    CAPTURE(daemon);
    std::string out;
    // The cluster's broker holds the endpoints and the store: a check that
    // started anything would fail on them.
    CHECK(cluster.RunTool({daemon, "--config", good, "--check-config"}, &out) == 0);
    CHECK(out.find("configuration " + good + " is good") != std::string::npos);
    CHECK(cluster.RunTool({daemon, "--config", bad, "--check-config"}, &out) == 2);
    CHECK(out.find("max_attempts") != std::string::npos);
  }
  // The notifier's own section is the notifier's to check.
  const std::string sinks = cluster.root() + "/sinks.toml";
  std::ofstream(sinks) << "[notifier]\nqueue_limit = \"many\"\n";
  std::string out;
  CHECK(cluster.RunTool({"daybreak-notifier", "--config", sinks, "--check-config"}, &out) == 2);
  CHECK(out.find("queue_limit") != std::string::npos);
  CHECK(cluster.RunTool({"daybreak-broker", "--config", sinks, "--check-config"}, &out) == 0);
}
