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
