// daybreak-shim with real processes: a lease that is not renewed ends the
// pipeline within lease + grace, renewals keep it, the end of the lease
// pipe (the runner died) ends it at once, the pipeline's exit status comes
// through, and a descendant that cleared its environment and left the
// session dies with its run. Deadlines, not sleeps, decide each wait.
#include "runner/lease_shim.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <doctest/doctest.h>

#include "runner/cgroup.h"
#include "runner/child_process.h"
#include "runner/system_process_host.h"
#include "tests/runner/process_helpers.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using runner::SpawnSpec;
using runner::SystemProcessHost;
using testing::IsGone;
using testing::WaitForPidFile;
using testing::WaitUntil;
using Steady = std::chrono::steady_clock;

const std::string kShim = DAYBREAK_SHIM_BIN;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SpawnSpec Shell(const testing::TempDir& dir, const std::string& script,
                std::chrono::milliseconds lease = 0ms, std::chrono::milliseconds grace = 0ms) {
  SpawnSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin", "DAYBREAK_RUN_ID=r1"};
  spec.cwd = dir.path().string();
  spec.log_path = dir.Sub("log");
  spec.lease = lease;
  spec.lease_grace = grace;
  spec.name = "r1-a1";
  return spec;
}

// The next exit the host reports, within `patience`.
std::optional<runner::Exited> NextExit(SystemProcessHost& host,
                                       std::chrono::milliseconds patience = 5000ms) {
  std::optional<runner::Exited> exited;
  WaitUntil([&] { return (exited = host.Reap()).has_value(); }, patience);
  return exited;
}

// A runner folder in cgroup v2 of our own, removed with everything in it;
// empty dir() when cgroup v2 is not writable here.
class TestCgroup {
 public:
  TestCgroup() {
    auto dir = runner::cgroup::PrepareRunnerDir("test-" + std::to_string(getpid()),
                                                "runner-" + std::to_string(++count_));
    if (dir.ok()) {
      dir_ = dir.value();
    } else {
      why_ = dir.status().message();
    }
  }
  ~TestCgroup() {
    if (dir_.empty()) return;
    runner::cgroup::SweepChildren(dir_, 2000ms);
    rmdir(dir_.c_str());
    rmdir(std::filesystem::path(dir_).parent_path().c_str());
  }
  const std::string& dir() const { return dir_; }
  const std::string& why() const { return why_; }

 private:
  static inline int count_ = 0;
  std::string dir_;
  std::string why_;
};

TEST_CASE("a lease never renewed ends a sleeping pipeline within lease plus grace") {
  testing::TempDir dir;
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = ""});
  const auto lease = 300ms;
  const auto grace = 200ms;
  // It ignores TERM, so only the KILL after the grace ends it.
  const auto start = Steady::now();
  auto pid = host.Spawn(Shell(dir, "trap '' TERM; sleep 1000 & echo $! > pid; wait", lease, grace));
  REQUIRE_MESSAGE(pid.ok(), pid.status().message());
  const auto sleeper = WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  const auto exited = NextExit(host, lease + grace + 3000ms);
  const auto took = Steady::now() - start;
  REQUIRE(exited);
  CHECK(exited->pid == pid.value());
  CHECK(took >= lease + grace);
  CHECK(took < lease + grace + 2000ms);
  CHECK(WIFEXITED(exited->wait_status));
  CHECK(WEXITSTATUS(exited->wait_status) == runner::kLeaseLapsedExit);  // transient
  CHECK(IsGone(*sleeper));
  CHECK_MESSAGE(Read(dir.Sub("log")).find("lease lapsed: runner silent for 300 ms; pipeline killed") !=
                    std::string::npos,
                Read(dir.Sub("log")));
  host.Release(pid.value());
}

TEST_CASE("renewals keep the pipeline; once they stop, the lease lapses") {
  testing::TempDir dir;
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = ""});
  auto pid = host.Spawn(Shell(dir, "exec sleep 1000", 300ms, 100ms));
  REQUIRE(pid.ok());
  // Three leases long, renewed every 50 ms: it must still run.
  const auto until = Steady::now() + 900ms;
  while (Steady::now() < until) {
    host.RenewLease(pid.value());
    CHECK_FALSE(host.Reap());
    std::this_thread::sleep_for(50ms);
  }
  CHECK(kill(pid.value(), 0) == 0);
  const auto exited = NextExit(host, 3000ms);
  REQUIRE(exited);
  CHECK(WEXITSTATUS(exited->wait_status) == runner::kLeaseLapsedExit);
  host.Release(pid.value());
}

TEST_CASE("the pipeline's exit status comes through the shim") {
  testing::TempDir dir;
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = ""});
  std::string script;
  int code = -1;
  int signal = 0;
  SUBCASE("success") {
    script = "exit 0";
    code = 0;
  }
  SUBCASE("a failure") {
    script = "exit 4";
    code = 4;
  }
  SUBCASE("a temporary failure") {
    script = "exit 75";
    code = 75;
  }
  SUBCASE("a signal") {
    script = "kill -KILL $$";
    signal = SIGKILL;
  }
  auto pid = host.Spawn(Shell(dir, script, 60'000ms, 1000ms));
  REQUIRE(pid.ok());
  const auto exited = NextExit(host);
  REQUIRE(exited);
  if (signal != 0) {
    REQUIRE(WIFSIGNALED(exited->wait_status));
    CHECK(WTERMSIG(exited->wait_status) == signal);
  } else {
    REQUIRE(WIFEXITED(exited->wait_status));
    CHECK(WEXITSTATUS(exited->wait_status) == code);
  }
  host.Release(pid.value());
}

TEST_CASE("TERM to the run's group ends the pipeline as TERM, as without a shim") {
  testing::TempDir dir;
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = ""});
  auto pid = host.Spawn(Shell(dir, "sleep 1000 & echo $! > pid; wait", 60'000ms, 1000ms));
  REQUIRE(pid.ok());
  const auto sleeper = WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  host.SignalGroup(pid.value(), SIGTERM);
  const auto exited = NextExit(host);
  REQUIRE(exited);
  REQUIRE(WIFSIGNALED(exited->wait_status));
  CHECK(WTERMSIG(exited->wait_status) == SIGTERM);
  CHECK(WaitUntil([&] { return IsGone(*sleeper); }));
  host.Release(pid.value());
}

TEST_CASE("the end of the lease pipe ends the pipeline at once") {
  testing::TempDir dir;
  int lease[2];
  REQUIRE(pipe2(lease, O_CLOEXEC) == 0);
  SpawnSpec spec = Shell(dir, "");
  spec.argv = runner::ShimCommand(
      kShim, {.lease = 60'000ms, .grace = 60'000ms, .cgroup = "", .lease_fd = runner::kLeaseFd, .sandbox = {},
              .argv = {"/bin/sh", "-c", "sleep 1000 & echo $! > pid; wait"}});
  spec.pass_fd = lease[0];
  auto shim = runner::ChildProcess::Spawn(spec);
  close(lease[0]);
  REQUIRE_MESSAGE(shim.ok(), shim.status().message());
  const auto sleeper = WaitForPidFile(dir.Sub("pid"));
  REQUIRE(sleeper);
  const auto start = Steady::now();
  close(lease[1]);  // as when the runner dies: nothing else holds it
  int status = 0;
  REQUIRE(waitpid(shim.value().pid(), &status, 0) == shim.value().pid());
  shim.value().MarkReaped();
  CHECK(Steady::now() - start < 2000ms);  // far less than the lease
  CHECK(IsGone(*sleeper));
  CHECK(Read(dir.Sub("log")).find("runner gone (lease pipe closed)") != std::string::npos);
}

TEST_CASE("a descendant that clears its environment and calls setsid dies with a runner kill -9") {
  // Issue 11, item 6. The runner here is a stand-in that holds the lease
  // pipe (a FIFO) and nothing else, as the runner does; kill -9 of it leaves
  // the shim an end of file and no one to clean up after it.
  testing::TempDir dir;
  TestCgroup cgroup;
  std::string mode = "cgroup " + cgroup.dir();
  if (cgroup.dir().empty()) {
    MESSAGE("cgroup v2 not writable here (" << cgroup.why()
                                            << "): testing the subreaper fallback only");
    mode = "subreaper";
  }
  const std::string fifo = dir.Sub("lease");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const std::string run_cgroup = cgroup.dir().empty() ? "" : cgroup.dir() + "/r1-a1";
  if (!run_cgroup.empty()) REQUIRE(runner::cgroup::Create(run_cgroup).ok());
  // Inside the stand-in's double quotes: \$! is the inner shell's.
  const std::string pipeline =
      "env -i setsid sh -c 'sleep 1000 & echo \\$! > escaped; wait' & sleep 1000";
  std::string shim = kShim + " --lease-ms 60000 --grace-ms 60000";
  if (!run_cgroup.empty()) shim += " --cgroup " + run_cgroup;
  shim += " -- /bin/sh -c \"" + pipeline + "\"";
  // fd 4 holds the FIFO open for writing (O_RDWR never blocks); the shim
  // gets only the read end, on 3.
  SpawnSpec spec = Shell(dir, "exec 4<>lease; " + shim + " 3<lease 4>&- & exec sleep 1000");
  auto stand_in = runner::ChildProcess::Spawn(spec);
  REQUIRE(stand_in.ok());
  const auto escaped = WaitForPidFile(dir.Sub("escaped"));
  REQUIRE(escaped);
  {
    std::ifstream environ_file("/proc/" + std::to_string(*escaped) + "/environ");
    std::string env(std::istreambuf_iterator<char>(environ_file), {});
    CHECK(env.find("DAYBREAK_RUN_ID") == std::string::npos);  // invisible to an env scan
  }
  CHECK(getsid(*escaped) != getsid(stand_in.value().pid()));  // it left the session
  kill(stand_in.value().pid(), SIGKILL);  // only it: the shim leads its own group
  CHECK_MESSAGE(WaitUntil([&] { return IsGone(*escaped); }, 5000ms), mode);
  if (!run_cgroup.empty()) {
    CHECK(WaitUntil([&] { return runner::cgroup::Pids(run_cgroup).empty(); }, 5000ms));
  }
}

TEST_CASE("in cgroup mode a KILL of the run reaches what left the group, and release removes the cgroup") {
  testing::TempDir dir;
  TestCgroup cgroup;
  if (cgroup.dir().empty()) {
    MESSAGE("skipped: cgroup v2 is not writable here (" << cgroup.why() << ")");
    return;
  }
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = cgroup.dir()});
  auto pid = host.Spawn(Shell(
      dir, "env -i setsid sh -c 'sleep 1000 & echo $! > escaped; wait' & sleep 1000", 60'000ms, 1000ms));
  REQUIRE(pid.ok());
  const std::string run_cgroup = host.CgroupOf(pid.value());
  CHECK(run_cgroup == cgroup.dir() + "/r1-a1");
  const auto escaped = WaitForPidFile(dir.Sub("escaped"));
  REQUIRE(escaped);
  {
    std::ifstream procs(run_cgroup + "/cgroup.procs");
    std::string all(std::istreambuf_iterator<char>(procs), {});
    CHECK(all.find(std::to_string(*escaped)) != std::string::npos);
  }
  // The runner's KILL after the grace: the group (the shim with it) and
  // the cgroup. Without the cgroup the escaped one would live on.
  host.SignalGroup(pid.value(), SIGKILL);
  const auto exited = NextExit(host);
  REQUIRE(exited);
  CHECK(WaitUntil([&] { return IsGone(*escaped); }, 5000ms));
  host.Release(pid.value());
  CHECK_FALSE(std::filesystem::exists(run_cgroup));
}

TEST_CASE("cgroup sweeps: a restart takes all of this runner's, a retry its run's of the deployment") {
  testing::TempDir dir;
  TestCgroup mine;
  if (mine.dir().empty()) {
    MESSAGE("skipped: cgroup v2 is not writable here (" << mine.why() << ")");
    return;
  }
  // Another runner of the same deployment: a sibling folder.
  const std::string other = std::filesystem::path(mine.dir()).parent_path() / "runner-b";
  REQUIRE(runner::cgroup::Create(other).ok());
  // A leftover: a sleeper in `cgroup` with nobody left to kill it.
  auto leftover = [&](const std::string& cgroup) {
    REQUIRE(runner::cgroup::Create(cgroup).ok());
    SpawnSpec spec = Shell(dir, "echo 0 > " + cgroup + "/cgroup.procs && exec sleep 1000");
    auto child = runner::ChildProcess::Spawn(spec);
    REQUIRE(child.ok());
    const pid_t pid = child.value().pid();
    REQUIRE(WaitUntil([&] { return runner::cgroup::Pids(cgroup).size() == 1; }));
    return std::make_pair(std::move(child).value(), pid);
  };
  SystemProcessHost host(-1, {.shim = kShim, .cgroup_dir = mine.dir()});
  SUBCASE("a retry of r5 kills r5's cgroups under any runner, and nothing else") {
    auto [a, a_pid] = leftover(other + "/r5-a1");
    auto [b, b_pid] = leftover(other + "/r6-a1");
    CHECK(host.SweepCgroups("r5") == 1);
    CHECK(WaitUntil([&] { return IsGone(a_pid); }));
    CHECK_FALSE(std::filesystem::exists(other + "/r5-a1"));
    CHECK_FALSE(IsGone(b_pid));
    runner::cgroup::Remove(other + "/r6-a1", 2000ms);
  }
  SUBCASE("a restart kills every cgroup of this runner's, and no other runner's") {
    auto [a, a_pid] = leftover(mine.dir() + "/r5-a1");
    auto [b, b_pid] = leftover(other + "/r5-a2");
    CHECK(host.SweepCgroups("") == 1);
    CHECK(WaitUntil([&] { return IsGone(a_pid); }));
    CHECK_FALSE(IsGone(b_pid));
    runner::cgroup::Remove(other + "/r5-a2", 2000ms);
  }
  rmdir(other.c_str());
}

TEST_CASE("cgroup paths come from mountinfo and /proc/self/cgroup") {
  const std::string mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
  CHECK(runner::cgroup::FindRoot(mountinfo) == "/sys/fs/cgroup/unified");
  CHECK_FALSE(runner::cgroup::FindRoot("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"));
  CHECK(runner::cgroup::OwnPath("4:memory:/x\n0::/system.slice/daybreak.service\n") ==
        "/system.slice/daybreak.service");
  CHECK_FALSE(runner::cgroup::OwnPath("4:memory:/x\n"));
  const std::string a = runner::cgroup::Component("tcp://127.0.0.1:7404");
  CHECK(a.starts_with("tcp___127.0.0.1_7404-"));
  CHECK(a.find('/') == std::string::npos);
  CHECK(a != runner::cgroup::Component("tcp://127.0.0.1_7404"));  // alike once sanitised
}

TEST_CASE("the shim's command line round-trips and bad ones are refused") {
  runner::ShimOptions o{.lease = 3000ms, .grace = 2000ms, .cgroup = "/cg/r1-a1", .lease_fd = 3, .sandbox = {},
                        .argv = {"/bin/pipeline", "--x"}};
  auto parsed = runner::ParseShimArgs(runner::ShimCommand(kShim, o));
  REQUIRE(parsed.ok());
  CHECK(parsed.value().lease == 3000ms);
  CHECK(parsed.value().grace == 2000ms);
  CHECK(parsed.value().cgroup == "/cg/r1-a1");
  CHECK(parsed.value().argv == o.argv);
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "100", "/bin/x"}).ok());  // no --
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "0", "--", "/bin/x"}).ok());
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "1x", "--", "/bin/x"}).ok());
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "100", "--"}).ok());
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--bogus", "--", "/bin/x"}).ok());
}

}  // namespace
