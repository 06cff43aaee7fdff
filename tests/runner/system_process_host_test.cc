// SystemProcessHost with real processes: spawn, reap, signal, release,
// scan, and that it kills what it still holds when it goes.
#include "runner/system_process_host.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include <doctest/doctest.h>

#include "tests/runner/process_helpers.h"
#include "tests/support/temp_dir.h"

namespace {

using runner::SpawnSpec;
using runner::SystemProcessHost;
using testing::IsGone;
using testing::WaitUntil;

SpawnSpec Shell(const testing::TempDir& dir, const std::string& script,
                std::vector<std::string> env = {}) {
  SpawnSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = std::move(env);
  spec.cwd = dir.path().string();
  spec.log_path = dir.Sub("log");
  return spec;
}

// The next exit the host reports, waiting for it with a deadline.
std::optional<runner::Exited> NextExit(SystemProcessHost& host) {
  std::optional<runner::Exited> exited;
  WaitUntil([&] { return (exited = host.Reap()).has_value(); });
  return exited;
}

bool Reaped(pid_t pid) {
  errno = 0;
  return kill(pid, 0) == -1 && errno == ESRCH;
}

TEST_CASE("Reap reports a child's exit status once") {
  testing::TempDir dir;
  SystemProcessHost host;
  CHECK_FALSE(host.Reap());  // nothing has ended
  auto pid = host.Spawn(Shell(dir, "exit 3"));
  REQUIRE(pid.ok());
  const auto exited = NextExit(host);
  REQUIRE(exited);
  CHECK(exited->pid == pid.value());
  CHECK(WIFEXITED(exited->wait_status));
  CHECK(WEXITSTATUS(exited->wait_status) == 3);
  CHECK_FALSE(host.Reap());
  host.Release(pid.value());  // already reaped: must not wait again
}

TEST_CASE("Spawn passes a failure on") {
  testing::TempDir dir;
  SystemProcessHost host;
  SpawnSpec spec = Shell(dir, "exit 0");
  spec.argv = {"daybreak-no-such-program"};
  auto pid = host.Spawn(spec);
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.status().code() == common::Code::kNotFound);
}

TEST_CASE("SignalGroup reaches the group of a held child and nothing else") {
  testing::TempDir dir;
  SystemProcessHost host;
  auto pid = host.Spawn(Shell(dir, "sleep 60 & echo $! > pid; wait"));
  REQUIRE(pid.ok());
  const auto sleeper = testing::WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  host.SignalGroup(*sleeper, SIGKILL);  // not a leader the host holds: ignored
  CHECK_FALSE(IsGone(*sleeper));
  host.SignalGroup(pid.value(), SIGTERM);
  const auto exited = NextExit(host);
  REQUIRE(exited);
  CHECK(WTERMSIG(exited->wait_status) == SIGTERM);
  CHECK(WaitUntil([&] { return IsGone(*sleeper); }));
  host.Release(pid.value());
}

TEST_CASE("Signal reaches one process only") {
  testing::TempDir dir;
  SystemProcessHost host;
  auto pid = host.Spawn(Shell(dir, "sleep 60 & echo $! > pid; wait; exit 5"));
  REQUIRE(pid.ok());
  const auto sleeper = testing::WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  host.Signal(*sleeper, SIGKILL);
  const auto exited = NextExit(host);  // the shell's wait returns, it exits itself
  REQUIRE(exited);
  CHECK(exited->pid == pid.value());
  CHECK(WIFEXITED(exited->wait_status));
  CHECK(WEXITSTATUS(exited->wait_status) == 5);
  host.Release(pid.value());
}

TEST_CASE("Release kills and reaps a child that is still running") {
  testing::TempDir dir;
  SystemProcessHost host;
  auto pid = host.Spawn(Shell(dir, "exec sleep 60"));
  REQUIRE(pid.ok());
  host.Release(pid.value());
  CHECK(Reaped(pid.value()));
  host.Release(pid.value());  // unknown now: ignored
  CHECK_FALSE(host.Reap());
}

TEST_CASE("Scan sees our child, its parent and its run id") {
  testing::TempDir dir;
  SystemProcessHost host;
  auto pid = host.Spawn(Shell(dir, "exec sleep 60", {"DAYBREAK_RUN_ID=scan-me"}));
  REQUIRE(pid.ok());
  // Until the child has exec'd, /proc shows the environment it was forked
  // with (ours): wait for the one it runs with, within 5 s.
  std::vector<runner::ProcessInfo> all;
  auto it = all.end();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    all = host.Scan();
    it = std::find_if(all.begin(), all.end(), [&](const runner::ProcessInfo& p) { return p.pid == pid.value(); });
  } while ((it == all.end() || it->run_id.empty()) && std::chrono::steady_clock::now() < until);
  REQUIRE(it != all.end());
  CHECK(it->ppid == host.self());
  CHECK(host.self() == getpid());
  CHECK(it->run_id == "scan-me");
  CHECK(it->state != 'Z');
  // We are in the list too, without a run id.
  CHECK(std::any_of(all.begin(), all.end(), [](const runner::ProcessInfo& p) {
    return p.pid == getpid() && p.run_id.empty();
  }));
}

TEST_CASE("destroying the host kills every child it holds and closes its descriptor") {
  testing::TempDir dir;
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  REQUIRE(fd >= 0);
  pid_t pid = -1;
  {
    SystemProcessHost host(fd);
    CHECK(host.exit_fd() == fd);
    auto spawned = host.Spawn(Shell(dir, "exec sleep 60"));
    REQUIRE(spawned.ok());
    pid = spawned.value();
    CHECK_FALSE(host.Reap());  // drains the descriptor without blocking
  }
  CHECK(Reaped(pid));
  errno = 0;
  CHECK(fcntl(fd, F_GETFD) == -1);
  CHECK(errno == EBADF);
  CHECK(SystemProcessHost().exit_fd() == -1);
}

}  // namespace
