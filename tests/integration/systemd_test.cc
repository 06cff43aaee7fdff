// systemd: the units under deploy/systemd verify with systemd-analyze, and
// every daemon speaks sd_notify on the socket the test listens on, as
// systemd's would be: READY=1 once it serves, WATCHDOG=1 while it runs,
// STOPPING=1 when SIGTERM begins its stop.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/test_process.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A datagram socket where a daemon's NOTIFY_SOCKET points.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

  // Waits until a message holding `line` arrives; false after `deadline`.
  bool WaitFor(const std::string& line, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      for (const std::string& m : seen_) {
        if (("\n" + m + "\n").find("\n" + line + "\n") != std::string::npos) return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) seen_.emplace_back(buffer, static_cast<std::size_t>(n));
    }
  }
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

}  // namespace

TEST_CASE("the systemd units verify, hardened, with what runner isolation needs") {
  const fs::path units = fs::path(DAYBREAK_SOURCE_DIR) / "deploy/systemd";
  testing::TempDir dir;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(units)) {
    std::string text = Slurp(entry.path());
    const std::string name = entry.path().filename().string();
    names.push_back(name);
    if (name.ends_with(".service")) {
      CAPTURE(name);
      for (const char* line : {"Type=notify", "WatchdogSec=", "Restart=on-failure", "User=daybreak",
                               "ProtectSystem=strict", "NoNewPrivileges=yes", "ReadWritePaths="}) {
        CHECK_MESSAGE(text.find(line) != std::string::npos, line);
      }
      // Verify against the programs just built.
      for (std::size_t at; (at = text.find("/usr/bin/")) != std::string::npos;) {
        text.replace(at, 9, std::string(DAYBREAK_BIN_DIR) + "/");
      }
    }
    dir.WriteFile(name, text);
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"daybreak-broker.service", "daybreak-notifier.service",
                                          "daybreak-runner.service", "daybreak-ticker.service",
                                          "daybreak.target"});
  const std::string runner = Slurp(units / "daybreak-runner.service");
  CHECK(runner.find("Delegate=yes") != std::string::npos);
  CHECK(runner.find("CAP_SETUID") != std::string::npos);
  CHECK(runner.find("CAP_SYS_ADMIN") != std::string::npos);

  if (system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
    MESSAGE("skipped systemd-analyze verify: not installed");
    return;
  }
  std::string command = "cd " + dir.path().string() + " && systemd-analyze verify --man=no";
  for (const std::string& n : names) command += " " + n;
  command += " >verify.out 2>&1";
  const int rc = system(command.c_str());
  CHECK_MESSAGE(rc == 0, Slurp(dir.Sub("verify.out")));
  CHECK_MESSAGE(Slurp(dir.Sub("verify.out")).empty(), Slurp(dir.Sub("verify.out")));
}

TEST_CASE("every daemon tells systemd READY, WATCHDOG while it runs, and STOPPING on SIGTERM") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  cluster.StopBroker(SIGTERM);  // started again below, under a notify socket
  struct Daemon {
    std::string program;
    std::vector<std::string> args;
  };
  for (const Daemon& daemon : {Daemon{"daybreak-broker", {}}, Daemon{"daybreak-ticker", {}},
                               Daemon{"daybreak-notifier", {}}, Daemon{"daybreak-runner", {"--id", "sd-runner"}}}) {
    CAPTURE(daemon.program);
    NotifySocket notify(cluster.root() + "/" + daemon.program + ".notify");
    std::vector<std::string> env = cluster.Environment();
    env.push_back("NOTIFY_SOCKET=" + notify.path());
    env.push_back("WATCHDOG_USEC=400000");
    std::vector<std::string> argv = {std::string(DAYBREAK_BIN_DIR) + "/" + daemon.program};
    argv.insert(argv.end(), daemon.args.begin(), daemon.args.end());
    testing::TestProcess process(argv, env, cluster.root() + "/logs/" + daemon.program + "-sd.log");
    CHECK_MESSAGE(notify.WaitFor("READY=1", 15s), Slurp(cluster.root() + "/logs/" + daemon.program + "-sd.log"));
    CHECK(notify.WaitFor("WATCHDOG=1", 5s));
    bool has_status = false;
    for (const std::string& m : notify.seen()) has_status = has_status || m.find("STATUS=") != std::string::npos;
    CHECK(has_status);
    if (daemon.program != "daybreak-broker") {
      process.Signal(SIGTERM);
      CHECK(notify.WaitFor("STOPPING=1", 10s));
      const auto status = process.Wait(15s);
      REQUIRE(status.has_value());
      CHECK(WIFEXITED(*status));
      CHECK(WEXITSTATUS(*status) == 0);
      continue;
    }
    // READY means serving: it answers at once.
    CHECK(cluster.WaitForBroker(1s));
    process.Signal(SIGTERM);
    CHECK(notify.WaitFor("STOPPING=1", 10s));
    const auto status = process.Wait(15s);
    REQUIRE(status.has_value());
    CHECK(WEXITSTATUS(*status) == 0);
    cluster.StartBroker();  // the cluster's own broker back, for the others
    REQUIRE(cluster.WaitForBroker());
  }
}
