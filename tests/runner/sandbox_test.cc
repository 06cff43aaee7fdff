// The sandbox through the real shim: a pipeline reads what it is allowed,
// writes only its staging folder, is refused everything else with EACCES,
// and a sandbox that cannot be built never runs the pipeline. The
// integration test (tests/integration/isolation_test.cc) does the same
// through a whole cluster.
#include "runner/sandbox.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "runner/cgroup.h"
#include "runner/lease_shim.h"
#include "runner/outcome.h"
#include "runner/system_process_host.h"
#include "tests/runner/process_helpers.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using runner::sandbox::Access;

const std::string kShim = DAYBREAK_SHIM_BIN;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Ran {
  int wait_status = -1;
  std::string log;
};

// Runs `script` under the shim with `rules`, to its end.
Ran RunWalled(const testing::TempDir& dir, const std::string& script,
              runner::sandbox::Rules rules, const std::string& shim = kShim) {
  runner::SystemProcessHost host(-1, {.shim = shim, .cgroup_dir = ""});
  runner::SpawnSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = dir.Sub("stage");
  spec.log_path = dir.Sub("log");
  spec.lease = 60'000ms;
  spec.lease_grace = 1000ms;
  spec.name = "r1-a1";
  spec.sandbox = std::move(rules);
  Ran ran;
  auto pid = host.Spawn(spec);
  REQUIRE(pid.ok());
  std::optional<runner::Exited> exited;
  testing::WaitUntil([&] { return (exited = host.Reap()).has_value(); }, 10'000ms);
  REQUIRE(exited);
  host.Release(pid.value());
  ran.wait_status = exited->wait_status;
  ran.log = Read(dir.Sub("log"));
  return ran;
}

runner::sandbox::Rules Walls(const testing::TempDir& dir) {
  runner::sandbox::Rules rules;
  rules.landlock = true;
  rules.rules = runner::sandbox::SystemRules();
  rules.rules.push_back({dir.Sub("in"), Access::kRead});
  rules.rules.push_back({dir.Sub("stage"), Access::kWrite});
  return rules;
}

void Prepare(const testing::TempDir& dir) {
  std::filesystem::create_directories(dir.Sub("in"));
  std::filesystem::create_directories(dir.Sub("stage"));
  std::filesystem::create_directories(dir.Sub("other"));
  std::ofstream(dir.Sub("in/tape.csv")) << "mine\n";
  std::ofstream(dir.Sub("other/tape.csv")) << "theirs\n";
}

}  // namespace

TEST_CASE("walled in, a pipeline reads its input and writes its staging, and nothing else") {
  if (runner::sandbox::LandlockAbi() == 0) {
    MESSAGE("skipped: this kernel has no Landlock");
    return;
  }
  testing::TempDir dir;
  Prepare(dir);
  const Ran ran = RunWalled(dir,
                            "cat " + dir.Sub("in/tape.csv") + " > " + dir.Sub("stage/copy") +
                                " && ! cat " + dir.Sub("other/tape.csv") + " && ! echo x > " +
                                dir.Sub("in/added") + " && ! echo x > " + dir.Sub("other/added") +
                                " && ! ls " + dir.path().string(),
                            Walls(dir));
  REQUIRE(WIFEXITED(ran.wait_status));
  CHECK_MESSAGE(WEXITSTATUS(ran.wait_status) == 0, ran.log);
  CHECK(Read(dir.Sub("stage/copy")) == "mine\n");
  CHECK(ran.log.find("Permission denied") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("in/added")));
  CHECK_FALSE(std::filesystem::exists(dir.Sub("other/added")));
}

TEST_CASE("without walls the same pipeline reaches everything: the walls are what stop it") {
  testing::TempDir dir;
  Prepare(dir);
  const Ran ran = RunWalled(dir, "cat " + dir.Sub("other/tape.csv") + " && echo x > " +
                                     dir.Sub("other/added"), {});
  REQUIRE(WIFEXITED(ran.wait_status));
  CHECK(WEXITSTATUS(ran.wait_status) == 0);
  CHECK(std::filesystem::exists(dir.Sub("other/added")));
}

TEST_CASE("a sandbox that cannot be built never runs the pipeline, and says why") {
  if (runner::sandbox::LandlockAbi() == 0) {
    MESSAGE("skipped: this kernel has no Landlock");
    return;
  }
  testing::TempDir dir;
  Prepare(dir);
  runner::sandbox::Rules rules = Walls(dir);
  rules.rules.push_back({dir.Sub("no-such-folder"), Access::kRead});
  const Ran ran = RunWalled(dir, "echo ran > " + dir.Sub("stage/ran"), rules);
  REQUIRE(WIFEXITED(ran.wait_status));
  CHECK(WEXITSTATUS(ran.wait_status) == runner::kSandboxFailedExit);
  CHECK(ran.log.find("cannot open " + dir.Sub("no-such-folder")) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("stage/ran")));
}

TEST_CASE("a memory limit holds the pipeline, and its failure reads as out of memory") {
  testing::TempDir dir;
  Prepare(dir);
  runner::sandbox::Rules rules;
  rules.memory_bytes = 64ULL << 20;
  const Ran ran = RunWalled(dir, "exec python3 -c 'b = bytearray(256 << 20)'", rules);
  REQUIRE(WIFEXITED(ran.wait_status));
  CHECK(WEXITSTATUS(ran.wait_status) != 0);
  runner::Verdict verdict;
  verdict.outcome = "failed";
  verdict.error = "pipeline exited 1";
  runner::ApplyMemoryLimit(verdict, 64, ran.log);
  CHECK(verdict.error == "out of memory (limit 64 MiB)");
  // Another failure under a limit keeps its own reason; so does any run
  // without one.
  runner::Verdict other{"failed", 3, "pipeline exited 3", {}, {}};
  runner::ApplyMemoryLimit(other, 64, "upstream DB unreachable\n");
  CHECK(other.error == "pipeline exited 3");
  runner::ApplyMemoryLimit(other, 0, "MemoryError\n");
  CHECK(other.error == "pipeline exited 3");
  runner::Verdict success{"succeeded", 0, "", {}, {}};
  runner::ApplyMemoryLimit(success, 64, "MemoryError handled, carried on\n");
  CHECK(success.outcome == "succeeded");
}

TEST_CASE("a CPU limit ends a pipeline that spins past its CPU time, and its failure says so") {
  testing::TempDir dir;
  Prepare(dir);
  runner::sandbox::Rules rules;
  rules.cpu_cores = 0.5;
  rules.cpu_seconds = 1;  // no cgroup here: RLIMIT_CPU
  const auto began = std::chrono::steady_clock::now();
  const Ran ran = RunWalled(dir, "while :; do :; done", rules);
  CHECK(std::chrono::steady_clock::now() - began < 8s);  // not the 10 s deadline of RunWalled
  REQUIRE(WIFSIGNALED(ran.wait_status));
  CHECK(ran.log.find(runner::kCpuLimitSign) != std::string::npos);
  runner::Verdict verdict{"transient", -1, "killed by signal 24", {}, {}};
  runner::ApplyCpuLimit(verdict, 1, ran.log);
  CHECK(verdict.outcome == "failed");  // the same input spins the same way: no retry
  CHECK(verdict.error == "CPU time limit reached (1 s)");

  // A pipeline within its CPU time is not touched, and says nothing of it.
  testing::TempDir calm;
  Prepare(calm);
  const Ran quick = RunWalled(calm, "echo done", rules);
  REQUIRE(WIFEXITED(quick.wait_status));
  CHECK(WEXITSTATUS(quick.wait_status) == 0);
  CHECK(quick.log.find(runner::kCpuLimitSign) == std::string::npos);
  // Another failure keeps its own reason; so does a run without a limit.
  runner::Verdict other{"failed", 3, "pipeline exited 3", {}, {}};
  runner::ApplyCpuLimit(other, 1, "upstream DB unreachable\n");
  CHECK(other.error == "pipeline exited 3");
  runner::ApplyCpuLimit(other, 0, runner::kCpuLimitSign);
  CHECK(other.error == "pipeline exited 3");
}

TEST_CASE("SetCpuMax writes a quota per 100 ms period where cpu.max is writable, and says false elsewhere") {
  testing::TempDir dir;
  CHECK_FALSE(runner::cgroup::SetCpuMax(dir.path().string(), 0.5));  // no cpu.max: no controller
  // cgroupfs takes each write whole; a plain file stands in, emptied each time.
  auto set = [&](double cores) {
    dir.WriteFile("cpu.max", "");
    return runner::cgroup::SetCpuMax(dir.path().string(), cores) ? Read(dir.Sub("cpu.max")) : "refused";
  };
  CHECK(set(0.5) == "50000 100000");
  CHECK(set(2) == "200000 100000");
  CHECK(set(0.001) == "1000 100000");  // the kernel's least quota
  CHECK_FALSE(runner::cgroup::SetCpuMax(dir.path().string(), 0));
}

TEST_CASE("a host without a shim refuses a spec that asks for walls") {
  testing::TempDir dir;
  Prepare(dir);
  runner::SystemProcessHost host(-1, {});
  runner::SpawnSpec spec;
  spec.argv = {"/bin/true"};
  spec.cwd = dir.Sub("stage");
  spec.log_path = dir.Sub("log");
  spec.sandbox.network = false;
  auto pid = host.Spawn(spec);
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.status().message().find("needs daybreak-shim") != std::string::npos);
}

TEST_CASE("the shim's sandbox flags round-trip") {
  runner::ShimOptions o;
  o.lease = 1000ms;
  o.sandbox.landlock = true;
  o.sandbox.network = false;
  o.sandbox.memory_bytes = 1 << 20;
  o.sandbox.cpu_cores = 1.5;
  o.sandbox.cpu_seconds = 90;
  o.sandbox.rules = {{"/in", Access::kRead}, {"/usr", Access::kReadExec}, {"/stage", Access::kWrite}};
  o.argv = {"/bin/x"};
  auto parsed = runner::ParseShimArgs(runner::ShimCommand(kShim, o));
  REQUIRE(parsed.ok());
  const auto& walls = parsed.value().sandbox;
  CHECK(walls.landlock);
  CHECK_FALSE(walls.network);
  CHECK(walls.memory_bytes == 1 << 20);
  CHECK(walls.cpu_cores == doctest::Approx(1.5));
  CHECK(walls.cpu_seconds == 90);
  REQUIRE(walls.rules.size() == 3);
  CHECK((walls.rules[0].path == "/in" && walls.rules[0].access == Access::kRead));
  CHECK((walls.rules[1].path == "/usr" && walls.rules[1].access == Access::kReadExec));
  CHECK((walls.rules[2].path == "/stage" && walls.rules[2].access == Access::kWrite));
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "1", "--allow-read"}).ok());
  CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "1", "--allow-anything", "/x", "--", "/x"}).ok());
  for (const char* cores : {"0", "-1", "x", "1.5x", "2000", ""}) {
    CAPTURE(cores);
    CHECK_FALSE(runner::ParseShimArgs({"shim", "--lease-ms", "1", "--cpu-cores", cores, "--", "/x"}).ok());
  }
}

TEST_CASE("the system rules give programs what they need to start, not all of /etc") {
  const auto rules = runner::sandbox::SystemRules();
  bool usr = false;
  for (const auto& r : rules) {
    CHECK(r.path != "/etc");
    CHECK(r.path != "/etc/ssl");  // its private/ holds the host's TLS keys
    CHECK_FALSE(r.path.starts_with("/etc/ssl/private"));
    CHECK_FALSE(r.path.starts_with("/etc/daybreak"));
    CHECK(r.path != "/proc");
    CHECK(r.path != "/");
    usr = usr || (r.path == "/usr" && r.access == Access::kReadExec);
  }
  CHECK(usr);
}

TEST_CASE("a pipeline runs as the user it is given, walled in or not, and cannot signal the runner's user") {
  if (geteuid() != 0) {
    MESSAGE("skipped: only root can run a pipeline as another user");
    return;
  }
  testing::TempDir dir;
  Prepare(dir);
  // The run's user must reach its staging folder, as the runner's own
  // folders allow on a real host.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  REQUIRE(chown(dir.Sub("stage").c_str(), 65534, 65534) == 0);
  const std::string script = "id -u > " + dir.Sub("stage/who") + " && id -g >> " +
                             dir.Sub("stage/who") + " && id -G >> " + dir.Sub("stage/who") +
                             " && ! kill -0 " + std::to_string(getpid());
  SUBCASE("without Landlock") {
    runner::sandbox::Rules rules;
    rules.uid = 65534;
    rules.gid = 65534;
    const Ran ran = RunWalled(dir, script, rules);
    REQUIRE(WIFEXITED(ran.wait_status));
    CHECK_MESSAGE(WEXITSTATUS(ran.wait_status) == 0, ran.log);
  }
  SUBCASE("with Landlock") {
    if (runner::sandbox::LandlockAbi() == 0) return;
    runner::sandbox::Rules rules = Walls(dir);
    rules.uid = 65534;
    rules.gid = 65534;
    const Ran ran = RunWalled(dir, script, rules);
    REQUIRE(WIFEXITED(ran.wait_status));
    CHECK_MESSAGE(WEXITSTATUS(ran.wait_status) == 0, ran.log);
  }
  CHECK(Read(dir.Sub("stage/who")) == "65534\n65534\n65534\n");  // no supplementary root groups
}

TEST_CASE("run_as_user names a user or a uid, and never root") {
  auto nobody = runner::sandbox::LookupUser("nobody");
  REQUIRE_MESSAGE(nobody.ok(), nobody.status().ToString());
  CHECK(nobody.value().uid == 65534);
  auto number = runner::sandbox::LookupUser("4242");
  REQUIRE(number.ok());
  CHECK(number.value().uid == 4242);
  CHECK(number.value().gid == 4242);  // a bare uid: its own group id
  CHECK_FALSE(runner::sandbox::LookupUser("root").ok());
  CHECK_FALSE(runner::sandbox::LookupUser("0").ok());
  auto missing = runner::sandbox::LookupUser("no-such-user-here");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("no user \"no-such-user-here\"") != std::string::npos);
}

TEST_CASE("a pipeline gets none of the runner's ambient capabilities") {
  if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
    MESSAGE("skipped: needs root and setpriv to give the shim ambient capabilities");
    return;
  }
  testing::TempDir dir;
  Prepare(dir);
  // The shim started as systemd starts a runner with AmbientCapabilities=.
  const std::string wrapper = dir.WriteFile(
      "shim-with-caps", "#!/bin/sh\nexec /usr/bin/setpriv --inh-caps +dac_override "
                        "--ambient-caps +dac_override " + kShim + " \"$@\"\n");
  REQUIRE(chmod(wrapper.c_str(), 0755) == 0);
  const Ran control = RunWalled(dir, "exec /usr/bin/setpriv --inh-caps +dac_override --ambient-caps "
                                     "+dac_override grep CapAmb /proc/self/status", {});
  REQUIRE(control.log.find("CapAmb:\t0000000000000002") != std::string::npos);  // setpriv does raise it
  const Ran ran = RunWalled(dir, "grep CapAmb /proc/self/status", {}, wrapper);
  REQUIRE(WIFEXITED(ran.wait_status));
  CHECK_MESSAGE(ran.log.find("CapAmb:\t0000000000000000") != std::string::npos, ran.log);
}
