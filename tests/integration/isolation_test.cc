// A hostile pipeline against the runner's sandbox (runner/sandbox.h), for
// real: one attack per team, each a shell or Python one-liner that exits 0
// only if the attack worked. Every attack must fail inside the pipeline
// (EACCES or EPERM), the run must end failed with that reason in its record,
// and nothing outside the attacker's own folders may change.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "runner/cgroup.h"
#include "runner/process_scan.h"
#include "runner/sandbox.h"
#include "tests/support/cluster.h"

namespace {

namespace fs = std::filesystem;
using testing::Cluster;

// Every file and link under `root` but those under `skip` prefixes, with
// its size and change time: what "nothing else changed" is checked against.
std::map<std::string, std::string> Snapshot(const std::string& root,
                                            const std::vector<std::string>& skip) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string path = it->path().string();
    bool skipped = false;
    for (const std::string& s : skip) skipped = skipped || path.starts_with(s);
    if (skipped) continue;
    struct stat st {};
    // Folders are the runner's to make (team folders, staging): files count.
    if (lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    out[path] = std::to_string(st.st_size) + "@" + std::to_string(st.st_mtim.tv_sec) + "." +
                std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

struct Attack {
  std::uint32_t team;
  std::string what;
  std::vector<std::string> command;
  std::string reason;  // expected in the run's stderr tail
};

schemas::TeamRecord Hostile(std::uint32_t id, std::vector<std::string> command) {
  schemas::TeamRecord team;
  team.id = id;
  team.command = std::move(command);
  team.max_attempts = 1;
  return team;
}

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

std::vector<std::string> Py(const std::string& code) { return {"/usr/bin/python3", "-c", code}; }

// Whether our cgroup v2 offers the cpu controller to cgroups beneath it
// (where the runner makes its run cgroups).
bool CpuControllerHere() {
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto root = runner::cgroup::FindRoot(text("/proc/self/mountinfo"));
  const auto own = runner::cgroup::OwnPath(text("/proc/self/cgroup"));
  if (!root || !own) return false;
  std::istringstream controllers(text(*root + *own + "/cgroup.controllers"));
  for (std::string word; controllers >> word;) {
    if (word == "cpu") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a hostile pipeline cannot leave its sandbox, and its run fails saying why") {
  if (runner::sandbox::LandlockAbi() == 0) {
    MESSAGE("skipped: this kernel has no Landlock");
    return;
  }
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_SLOTS", "4"}, {"DAYBREAK_ISOLATION", "required"},
                           {"RUNNER_ONLY_SECRET", "hunter2-credential"}}});
  const std::string inputs = cluster.data("inputs");
  const std::string outputs = cluster.data("outputs");
  // The victim team's input and output, and a secret outside the data tree.
  cluster.MakeSample(2, 20, "2025-06-02");
  schemas::TeamRecord victim;
  victim.id = 2;
  victim.command = Sh("sleep 30");
  cluster.AddTeam(victim);
  WriteText(outputs + "/sales_team_2/output/report.csv", "victim's report\n");
  const std::string secret = cluster.root() + "/secret.txt";
  WriteText(secret, "the root's secret\n");
  // A link planted in an attacker's input, pointing out of the team tree.
  fs::create_directories(inputs + "/sales_team_13/files_required");
  fs::create_symlink(secret, inputs + "/sales_team_13/files_required/loan_tape_20250602.csv");

  // Team 2's long run, whose pid an attacker will try to signal.
  const auto victim_run = cluster.Trigger(2);
  cluster.WaitForRun(victim_run.run_id,
                     [](const schemas::RunRecord& r) { return r.state == schemas::RunState::kRunning; });
  pid_t victim_pid = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (victim_pid == 0 && std::chrono::steady_clock::now() < until) {
    runner::ForEachProcess([&](const runner::ProcessInfo& p) {
      if (p.run_id == victim_run.run_id && p.name == "sleep") victim_pid = p.pid;
    });
  }
  REQUIRE(victim_pid > 0);
  const pid_t runner_pid = cluster.runner("runner-1").pid();
  const std::string config = cluster.root() + "/etc/runner.toml";
  WriteText(config, "[security]\nclient_secret_key = \"not-for-pipelines\"\n");

  const std::string victim_tape = inputs + "/sales_team_2/files_required/loan_tape_20250602.csv";
  REQUIRE(fs::is_regular_file(victim_tape));  // the attack is on something real
  const std::vector<Attack> attacks = {
      {11, "read another team's input",
       Sh("cat " + victim_tape), "Permission denied"},
      {12, "write another team's output",
       Sh("echo pwned > " + outputs + "/sales_team_2/output/report.csv"), "Permission denied"},
      {13, "follow a planted symlink out of its folder",
       Sh("cat \"$DAYBREAK_INPUT_DIR\"/loan_tape_20250602.csv"), "Permission denied"},
      {14, "write outside the data tree", Sh("echo pwned > " + cluster.root() + "/pwned.txt"),
       "Permission denied"},
      {15, "read the runner's config", Sh("cat " + config), "Permission denied"},
      {16, "read the runner's environment",
       Sh("cat /proc/" + std::to_string(runner_pid) + "/environ"), "Permission denied"},
      {17, "see the runner's credentials in its own environment",
       Sh("env | grep -q hunter2-credential && echo leaked || { echo 'no credential: Permission denied'; exit 1; }"),
       "no credential"},
      {18, "signal the runner", Sh("kill -CONT " + std::to_string(runner_pid)),
       "Operation not permitted"},
      {19, "signal another run's process", Sh("kill -KILL " + std::to_string(victim_pid)),
       "Operation not permitted"},
  };
  const auto before = Snapshot(cluster.root(), {outputs + "/sales_team_1", cluster.root() + "/var",
                                                cluster.root() + "/logs"});
  std::map<std::string, const Attack*> runs;
  for (const Attack& a : attacks) {
    cluster.AddTeam(Hostile(a.team, a.command));
    runs[cluster.Trigger(a.team).run_id] = &a;
  }
  for (const auto& [run_id, attack] : runs) {
    CAPTURE(attack->what);
    const auto run = cluster.WaitForTerminal(run_id);
    CHECK(run.state == schemas::RunState::kFailed);
    CHECK_MESSAGE(run.stderr_tail.find(attack->reason) != std::string::npos,
                  "the reason is the pipeline's own words: " << run.stderr_tail);
  }
  // The runner and the victim's run lived through it all.
  CHECK(kill(runner_pid, 0) == 0);
  CHECK(kill(victim_pid, 0) == 0);
  schemas::ControlRequest cancel;
  cancel.op = "cancel";
  cancel.run_id = victim_run.run_id;
  CHECK(cluster.Call(cancel).ok());
  CHECK(cluster.WaitForTerminal(victim_run.run_id).state == schemas::RunState::kCancelled);
  const auto after = Snapshot(cluster.root(), {outputs + "/sales_team_1", cluster.root() + "/var",
                                               cluster.root() + "/logs"});
  for (const auto& [path, stamp] : after) {
    // The attackers' own (empty) team folders and staging are theirs.
    if (path.starts_with(outputs + "/sales_team_1")) continue;
    const auto was = before.find(path);
    CHECK_MESSAGE(was != before.end(), "new file outside the attackers' folders: " << path);
    if (was != before.end()) CHECK_MESSAGE(was->second == stamp, "changed: " << path);
  }
  CHECK(testing::ReadFile(outputs + "/sales_team_2/output/report.csv") == "victim's report\n");
}

TEST_CASE("a team without network cannot connect, one with it can, and a memory limit fails the run") {
  if (runner::sandbox::LandlockAbi() == 0) {
    MESSAGE("skipped: this kernel has no Landlock");
    return;
  }
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_SLOTS", "3"}}});
  // The broker's HTTP port: something listening on this host's loopback.
  const std::string http = cluster.endpoint("http");
  const std::string port = http.substr(http.rfind(':') + 1);
  const std::string connect =
      "import socket; s = socket.create_connection(('127.0.0.1', " + port + "), timeout=3); "
      "print('connected')";
  schemas::TeamRecord offline = Hostile(21, Py(connect));
  offline.network = false;
  cluster.AddTeam(offline);
  cluster.AddTeam(Hostile(22, Py(connect)));
  schemas::TeamRecord hungry = Hostile(23, Py("b = bytearray(512 * 1024 * 1024); print(len(b))"));
  hungry.memory_mb = 128;
  hungry.max_attempts = 3;
  cluster.AddTeam(hungry);
  schemas::TeamRecord modest = Hostile(24, Py("b = bytearray(16 * 1024 * 1024); print(len(b))"));
  modest.memory_mb = 128;
  modest.env = {{"TEAM_SETTING", "from-the-team"}};
  modest.command = Py("import os; b = bytearray(16 << 20); print(os.environ['TEAM_SETTING'])");
  cluster.AddTeam(modest);

  const auto no_net = cluster.WaitForTerminal(cluster.Trigger(21).run_id);
  CHECK(no_net.state == schemas::RunState::kFailed);
  CHECK_MESSAGE((no_net.stderr_tail.find("PermissionError") != std::string::npos ||
                 no_net.stderr_tail.find("Network is unreachable") != std::string::npos),
                no_net.stderr_tail);
  const auto with_net = cluster.WaitForTerminal(cluster.Trigger(22).run_id);
  CHECK(with_net.state == schemas::RunState::kSucceeded);

  const auto oom = cluster.WaitForTerminal(cluster.Trigger(23).run_id);
  CHECK(oom.state == schemas::RunState::kFailed);
  CHECK(oom.attempt == 1);  // not retried: the same input needs the same memory
  CHECK(oom.error == "out of memory (limit 128 MiB)");
  const auto fits = cluster.WaitForTerminal(cluster.Trigger(24).run_id);
  CHECK(fits.state == schemas::RunState::kSucceeded);
}

TEST_CASE("a CPU limit ends a pipeline that spins, as a failure that says so and is not retried") {
  // Without a cgroup cpu controller (a hybrid host's unified tree has
  // none): RLIMIT_CPU of cpu_max x the run's timeout, here
  // ceil(0.0003 x 3600) = 2 s of CPU. With one, cpu.max throttles instead
  // (sandbox_test checks what it writes) and nothing is killed.
  if (CpuControllerHere()) {
    MESSAGE("skipped: runs here are throttled by cpu.max, not ended by RLIMIT_CPU");
    return;
  }
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_CPU_MAX", "0.0003"}}});
  schemas::TeamRecord spinner = Hostile(25, {"/bin/sh", "-c", "while :; do :; done"});
  spinner.max_attempts = 3;
  cluster.AddTeam(spinner);
  cluster.AddTeam(Hostile(26, {"/bin/sh", "-c", "echo within its time"}));
  const auto spun = cluster.WaitForTerminal(cluster.Trigger(25).run_id);
  CHECK(spun.state == schemas::RunState::kFailed);
  CHECK(spun.attempt == 1);  // the same input spins the same way
  CHECK_MESSAGE(spun.error == "CPU time limit reached (2 s)", spun.error << "\n" << spun.stderr_tail);
  CHECK(spun.stderr_tail.find("used its 2 s of CPU time") != std::string::npos);
  const auto calm = cluster.WaitForTerminal(cluster.Trigger(26).run_id);
  CHECK(calm.state == schemas::RunState::kSucceeded);
}

TEST_CASE("with team_uid_base each team's pipeline runs as its own uid: its outputs are its own, other teams' folders are not") {
  if (geteuid() != 0) {
    MESSAGE("skipped: only a root runner can run pipelines as other users");
    return;
  }
  // Without Landlock too: the kernel's own file permissions keep teams apart.
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_TEAM_UID_BASE", "60000"}, {"DAYBREAK_ISOLATION", "off"}}});
  REQUIRE(chmod(cluster.root().c_str(), 0755) == 0);  // a temp dir is 0700: let the teams in
  cluster.MakeSample(2, 30, "2025-06-02");
  // A program under /usr: the build tree may sit in a folder only root can
  // enter (a CI clone in a 0700 temp dir).
  schemas::TeamRecord reference;
  reference.id = 2;
  reference.command = {"/bin/sh", "-c",
                       "cat \"$DAYBREAK_INPUT_DIR\"/loan_tape_20250602.csv > \"$DAYBREAK_OUTPUT_DIR\"/copy.csv"};
  cluster.AddTeam(reference);
  const auto run = cluster.WaitForTerminal(cluster.Trigger(2).run_id);
  REQUIRE_MESSAGE(run.state == schemas::RunState::kSucceeded, run.error << "\n" << run.stderr_tail);
  const std::string output = cluster.data("outputs/sales_team_2/output");
  bool any = false;
  for (const auto& entry : fs::directory_iterator(output)) {
    struct stat st {};
    REQUIRE(stat(entry.path().c_str(), &st) == 0);
    CHECK(st.st_uid == 60002u);  // made by team 2's pipeline, as team 2
    any = true;
  }
  CHECK(any);

  const std::string victim = output + "/report.csv";
  WriteText(victim, "team 2's\n");
  schemas::TeamRecord attacker = Hostile(1, Sh("id -u; echo pwned > " + victim));
  cluster.AddTeam(attacker);
  const auto attack = cluster.WaitForTerminal(cluster.Trigger(1).run_id);
  CHECK(attack.state == schemas::RunState::kFailed);
  CHECK(attack.stderr_tail.find("60001") != std::string::npos);
  CHECK(attack.stderr_tail.find("Permission denied") != std::string::npos);
  CHECK(testing::ReadFile(victim) == "team 2's\n");
}
