// common::Daemon: signals blocked before any thread exists, and a body's
// exception turned into an exit code. Each case uses its own process name
// (SetupLogging registers a logger by name once per process).
#include "common/daemon.h"

#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

namespace {

// The signal masks of every thread of this process, from /proc.
std::vector<std::uint64_t> ThreadSignalMasks() {
  std::vector<std::uint64_t> masks;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("SigBlk:")) masks.push_back(std::stoull(line.substr(7), nullptr, 16));
    }
  }
  return masks;
}

int RunMain(common::Daemon& daemon, std::vector<std::string> args, const common::Daemon::Body& body) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return daemon.Main(static_cast<int>(argv.size()), argv.data(), body);
}

}  // namespace

TEST_CASE("blocked_signals are blocked in every thread, the logging thread included") {
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  common::Daemon daemon({.name = "daemon-blocked", .about = "test", .blocked_signals = {SIGCHLD}});
  std::vector<std::uint64_t> masks;
  const int code = RunMain(daemon, {"daybreak-daemon-blocked"}, [&masks](common::Daemon&) {
    masks = ThreadSignalMasks();
    return common::kExitOk;
  });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  CHECK(code == common::kExitOk);
  REQUIRE(masks.size() >= 2);  // logging's flusher thread exists by now
  for (std::uint64_t mask : masks) CHECK(((mask >> (SIGCHLD - 1)) & 1) == 1);
}

TEST_CASE("what the body throws is logged and exits kExitFailed") {
  common::Daemon daemon({.name = "daemon-throws", .about = "test"});
  CHECK(RunMain(daemon, {"daybreak-daemon-throws"}, [](common::Daemon&) -> int {
          throw std::runtime_error("boom");
        }) == common::kExitFailed);
  common::Daemon unknown({.name = "daemon-throws-unknown", .about = "test"});
  CHECK(RunMain(unknown, {"daybreak-daemon-throws-unknown"}, [](common::Daemon&) -> int { throw 7; }) ==
        common::kExitFailed);
}

TEST_CASE("a bad configuration exits kExitBadConfig before the body runs") {
  testing::TempDir dir;
  const std::string config = dir.Sub("bad.toml");
  std::ofstream(config) << "[log]\nlevel = \"loud\"\n";
  common::Daemon daemon({.name = "daemon-bad-config", .about = "test"});
  bool ran = false;
  CHECK(RunMain(daemon, {"daybreak-daemon-bad-config", "--config", config}, [&ran](common::Daemon&) {
          ran = true;
          return common::kExitOk;
        }) == common::kExitBadConfig);
  CHECK_FALSE(ran);
}
