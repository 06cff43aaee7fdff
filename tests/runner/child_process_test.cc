// ChildProcess, with real processes: how it starts a pipeline, and that its
// signals and its destructor reach the pipeline's whole process group.
#include "runner/child_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <doctest/doctest.h>

#include "tests/runner/process_helpers.h"
#include "tests/support/temp_dir.h"

namespace {

using common::Code;
using runner::ChildProcess;
using runner::SpawnSpec;
using testing::IsGone;
using testing::WaitForPidFile;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A shell pipeline in `dir`, logging to dir/log.
SpawnSpec Shell(const testing::TempDir& dir, const std::string& script) {
  SpawnSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = {"FOO=bar"};
  spec.cwd = dir.path().string();
  spec.log_path = dir.Sub("log");
  return spec;
}

// Waits for `child`'s leader to end and marks it reaped; returns the status.
int Reap(ChildProcess& child) {
  int status = 0;
  while (waitpid(child.pid(), &status, 0) < 0 && errno == EINTR) {
  }
  child.MarkReaped();
  return status;
}

TEST_CASE("Spawn runs the command in its own group, in its folder, with its environment and log") {
  testing::TempDir dir;
  dir.WriteFile("log", "earlier\n");
  auto child = ChildProcess::Spawn(Shell(dir, "echo \"$FOO $(pwd)\"; echo oops >&2; exit 4"));
  REQUIRE_MESSAGE(child.ok(), child.status().message());
  CHECK(getpgid(child.value().pid()) == child.value().pid());
  const int status = Reap(child.value());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 4);
  CHECK(Read(dir.Sub("log")) == "earlier\nbar " + dir.path().string() + "\noops\n");
}

TEST_CASE("Spawn reports why a pipeline cannot start and leaves no child behind") {
  testing::TempDir dir;
  SpawnSpec spec = Shell(dir, "exit 0");
  Code code = Code::kOk;
  std::string words;
  SUBCASE("no command") {
    spec.argv.clear();
    code = Code::kInvalid;
    words = "empty pipeline command";
  }
  SUBCASE("not on PATH") {
    spec.argv = {"daybreak-no-such-program"};
    code = Code::kNotFound;
    words = "not found on PATH";
  }
  SUBCASE("no such folder") {
    spec.cwd = dir.Sub("missing");
    code = Code::kIoError;
    words = "enter " + spec.cwd;
  }
  SUBCASE("the log cannot be opened") {
    spec.log_path = dir.Sub("missing/log");
    code = Code::kIoError;
    words = "open " + spec.log_path;
  }
  SUBCASE("not executable") {
    spec.argv = {dir.WriteFile("script", "#!/bin/sh\n")};
    chmod(spec.argv[0].c_str(), 0644);
    code = Code::kIoError;
    words = "exec " + spec.argv[0];
  }
  auto child = ChildProcess::Spawn(spec);
  REQUIRE_FALSE(child.ok());
  CHECK(child.status().code() == code);
  CHECK_MESSAGE(child.status().message().find(words) != std::string::npos,
                child.status().message());
  errno = 0;
  CHECK(waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("SignalGroup reaches every process of the group") {
  testing::TempDir dir;
  auto child = ChildProcess::Spawn(Shell(dir, "sleep 60 & echo $! > pid; wait"));
  REQUIRE(child.ok());
  const auto sleeper = WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  child.value().SignalGroup(SIGTERM);
  const int status = Reap(child.value());
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(testing::WaitUntil([&] { return IsGone(*sleeper); }));
}

TEST_CASE("a group that ignores TERM is really killed by KILL") {
  testing::TempDir dir;
  auto child = ChildProcess::Spawn(Shell(dir, "trap '' TERM; sleep 60 & echo $! > pid; wait"));
  REQUIRE(child.ok());
  const auto sleeper = WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  child.value().SignalGroup(SIGTERM);
  child.value().SignalGroup(SIGKILL);
  const int status = Reap(child.value());
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(testing::WaitUntil([&] { return IsGone(*sleeper); }));
}

TEST_CASE("the destructor kills the whole group and reaps the leader") {
  testing::TempDir dir;
  pid_t leader = -1;
  std::optional<pid_t> sleeper;
  {
    auto child = ChildProcess::Spawn(Shell(dir, "sleep 60 & echo $! > pid; wait"));
    REQUIRE(child.ok());
    leader = child.value().pid();
    sleeper = WaitForPidFile(dir.Sub("pid"));
    REQUIRE(sleeper);
  }
  errno = 0;
  CHECK(kill(leader, 0) == -1);  // reaped, not a zombie
  CHECK(errno == ESRCH);
  CHECK(testing::WaitUntil([&] { return IsGone(*sleeper); }));
}

TEST_CASE("after MarkReaped the destructor still sweeps what the leader left") {
  testing::TempDir dir;
  std::optional<pid_t> sleeper;
  {
    auto child = ChildProcess::Spawn(Shell(dir, "sleep 60 & echo $! > pid"));
    REQUIRE(child.ok());
    sleeper = WaitForPidFile(dir.Sub("pid"));
    REQUIRE(sleeper);
    CHECK(WEXITSTATUS(Reap(child.value())) == 0);
    CHECK_FALSE(IsGone(*sleeper));  // the leader is gone, its group is not
  }
  CHECK(testing::WaitUntil([&] { return IsGone(*sleeper); }));
}

TEST_CASE("move-assign kills the child it held and takes over the other's") {
  testing::TempDir dir;
  auto a = ChildProcess::Spawn(Shell(dir, "exec sleep 60"));
  auto b = ChildProcess::Spawn(Shell(dir, "exec sleep 60"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const pid_t old_pid = a.value().pid();
  const pid_t new_pid = b.value().pid();
  a.value() = std::move(b.value());
  errno = 0;
  CHECK(kill(old_pid, 0) == -1);  // killed and reaped by the assignment
  CHECK(errno == ESRCH);
  CHECK(a.value().pid() == new_pid);
  CHECK(b.value().pid() == -1);
  CHECK(kill(new_pid, 0) == 0);  // the moved child lives on

  SUBCASE("self-assignment keeps it") {
    ChildProcess& self = a.value();
    a.value() = std::move(self);
    CHECK(a.value().pid() == new_pid);
    CHECK(kill(new_pid, 0) == 0);
  }
}

TEST_CASE("a moved-from ChildProcess owns nothing") {
  testing::TempDir dir;
  auto a = ChildProcess::Spawn(Shell(dir, "exec sleep 60"));
  REQUIRE(a.ok());
  const pid_t pid = a.value().pid();
  {
    ChildProcess moved(std::move(a.value()));
    CHECK(a.value().pid() == -1);
    a.value().SignalGroup(SIGKILL);  // a no-op, not a kill(-(-1)) of everything
    CHECK(kill(pid, 0) == 0);
  }
  errno = 0;
  CHECK(kill(pid, 0) == -1);
  CHECK(errno == ESRCH);
}

}  // namespace
