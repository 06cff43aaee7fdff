// Runs that survive anything: real processes killed, hung, escaping, and
// failing, each checked for one terminal state, the right attempts, no
// overlap and no leftover processes or partial outputs.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "runner/process_scan.h"
#include "tests/support/cluster.h"

namespace {

using testing::BusWatcher;
using testing::Cluster;

std::uint32_t g_next_team = 100;

// A team whose pipeline is `script` run by /bin/sh.
std::uint32_t AddShellTeam(Cluster& cluster, const std::string& script,
                           std::uint32_t max_attempts = 3, std::uint32_t timeout_s = 0,
                           const std::string& overlap = "skip") {
  schemas::TeamRecord team;
  team.id = ++g_next_team;
  team.command = {"/bin/sh", "-c", script};
  team.max_attempts = max_attempts;
  team.timeout_s = timeout_s;
  team.overlap = overlap;
  cluster.AddTeam(team);
  return team.id;
}

std::vector<pid_t> ProcessesOf(const std::string& run_id) {
  std::vector<pid_t> pids;
  runner::ForEachProcess([&](const runner::ProcessInfo& p) {
    if (p.run_id == run_id && p.state != 'Z') pids.push_back(p.pid);
  });
  return pids;
}

// Waits until no process carries the run's id (the runner sweeps orphans
// on its heartbeat).
bool NoLeftovers(const std::string& run_id) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (ProcessesOf(run_id).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool IsTerminalEvent(const std::string& e) {
  return e == "completed" || e == "failed" || e == "missed" || e == "skipped" || e == "cancelled";
}

// Exactly one terminal event for the run, and none of its attempts ran
// while another run of the same team was running.
void CheckOneEndAndNoOverlap(BusWatcher& bus, const std::string& run_id) {
  // The record may be terminal before its event reached us: wait for it,
  // then give a duplicate a moment to show up too.
  REQUIRE(bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
    return e.run.run_id == run_id && IsTerminalEvent(e.event);
  }));
  bus.WaitForRunEvent([](const schemas::RunEvent&) { return false; }, std::chrono::milliseconds(200));
  int terminal = 0;
  std::map<std::uint32_t, std::string> running;  // team -> run in "started"
  for (const auto& e : bus.run_events()) {
    if (e.run.run_id == run_id && IsTerminalEvent(e.event)) ++terminal;
    if (e.event == "started") {
      auto it = running.find(e.run.team);
      CHECK_MESSAGE((it == running.end() || it->second == e.run.run_id),
                    "team " << e.run.team << " started " << e.run.run_id << " while " << it->second << " ran");
      running[e.run.team] = e.run.run_id;
    }
    if (e.event == "retrying" || IsTerminalEvent(e.event)) {
      if (running.count(e.run.team) != 0 && running[e.run.team] == e.run.run_id) running.erase(e.run.team);
    }
  }
  CHECK(terminal == 1);
}

std::optional<schemas::RunEvent> WaitStarted(BusWatcher& bus, const std::string& run_id, std::uint32_t attempt = 1) {
  return bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
    return e.run.run_id == run_id && e.event == "started" && e.run.attempt == attempt;
  });
}

}  // namespace

TEST_CASE("a pipeline that exits 75 twice then succeeds takes three attempts") {
  Cluster cluster({.runners = 2, .ticker = false, .notifier = false, .env = {}});
  BusWatcher bus(cluster, {"run."});
  const auto team = AddShellTeam(cluster, "[ \"$DAYBREAK_ATTEMPT\" -ge 3 ] && exit 0; exit 75");
  const auto run = cluster.WaitForTerminal(cluster.Trigger(team).run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(run.attempt == 3);
  REQUIRE(bus.WaitForRunEvent([&](const auto& e) { return e.run.run_id == run.run_id && e.event == "completed"; }));
  int retries = 0;
  for (const auto& e : bus.run_events()) retries += e.run.run_id == run.run_id && e.event == "retrying";
  CHECK(retries == 2);
  CheckOneEndAndNoOverlap(bus, run.run_id);
}

TEST_CASE("a pipeline that exits 1 fails at once and leaves no partial output") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  const auto team = AddShellTeam(
      cluster, "echo half > \"$DAYBREAK_OUTPUT_DIR/purchase_half.csv\"; exit 1");
  const auto run = cluster.WaitForTerminal(cluster.Trigger(team).run_id);
  CHECK(run.state == schemas::RunState::kFailed);
  CHECK(run.attempt == 1);
  CHECK(run.exit_code == 1);
  const std::string team_dir = "outputs/sales_team_" + std::to_string(team);
  CHECK(testing::ListFiles(cluster.data(team_dir + "/output")).empty());
  CHECK(testing::ListFiles(cluster.data(team_dir + "/.staging")).empty());
}

TEST_CASE("a hung pipeline that ignores TERM is killed at its timeout, retried, then failed") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  BusWatcher bus(cluster, {"run."});
  const auto team = AddShellTeam(cluster, "trap '' TERM; sleep 60; sleep 60", /*max_attempts=*/2,
                                 /*timeout_s=*/1);
  const auto started = std::chrono::steady_clock::now();
  const auto run = cluster.WaitForTerminal(cluster.Trigger(team).run_id, std::chrono::seconds(30));
  CHECK(run.state == schemas::RunState::kFailed);
  CHECK(run.attempt == 2);
  CHECK(run.error.find("timed out after 1 s") != std::string::npos);
  // Timeout 1 s + kill grace 1 s per attempt, plus a short backoff.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
  CHECK(NoLeftovers(run.run_id));
  CheckOneEndAndNoOverlap(bus, run.run_id);
}

TEST_CASE("a grandchild that escapes with setsid is killed when its run ends") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  const auto team = AddShellTeam(cluster, "setsid sleep 60 </dev/null >/dev/null 2>&1 & exit 0");
  const auto run = cluster.WaitForTerminal(cluster.Trigger(team).run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(NoLeftovers(run.run_id));
}

TEST_CASE("kill -9 of a runner mid-run: the run is retried elsewhere and ends once") {
  Cluster cluster({.runners = 2, .ticker = false, .notifier = false, .env = {}});
  BusWatcher bus(cluster, {"run."});
  const auto team = AddShellTeam(cluster, "[ \"$DAYBREAK_ATTEMPT\" = 1 ] && exec sleep 60; exit 0");
  const auto run_id = cluster.Trigger(team).run_id;
  const auto started = WaitStarted(bus, run_id);
  REQUIRE(started.has_value());
  const std::string victim = started->run.runner_id;
  cluster.StopRunner(victim, SIGKILL);
  const auto run = cluster.WaitForTerminal(run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(run.attempt == 2);
  CHECK(run.runner_id != victim);
  CHECK(NoLeftovers(run_id));  // the first attempt died with its runner
  CheckOneEndAndNoOverlap(bus, run_id);
}

TEST_CASE("kill -9 of the broker mid-run loses nothing: the runner's result reaches the new broker") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  const auto team = AddShellTeam(cluster, "sleep 1; exit 0");
  const auto run_id = cluster.Trigger(team).run_id;
  REQUIRE(cluster.WaitForRun(run_id, [](const auto& r) { return r.state == schemas::RunState::kRunning; }).state == schemas::RunState::kRunning);
  cluster.StopBroker(SIGKILL);
  cluster.StartBroker();
  REQUIRE(cluster.WaitForBroker());
  const auto run = cluster.WaitForTerminal(run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(run.attempt == 1);  // claimed again, not retried
  schemas::ControlRequest stats;
  stats.op = "stats";
  auto reply = cluster.Call(stats);
  REQUIRE(reply.ok());
  CHECK(reply.value().stats.at("active_runs") == 0);
}

TEST_CASE("a run lost while the broker was down is retried after the broker restarts") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  const auto team = AddShellTeam(cluster, "[ \"$DAYBREAK_ATTEMPT\" = 1 ] && exec sleep 60; exit 0");
  const auto run_id = cluster.Trigger(team).run_id;
  REQUIRE(cluster.WaitForRun(run_id, [](const auto& r) { return r.state == schemas::RunState::kRunning; }).state == schemas::RunState::kRunning);
  cluster.StopBroker(SIGKILL);
  cluster.StopRunner("runner-1", SIGKILL);  // its pipeline dies with it
  cluster.StartBroker();
  REQUIRE(cluster.WaitForBroker());
  cluster.StartRunner("runner-2");
  const auto run = cluster.WaitForTerminal(run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(run.attempt == 2);
  CHECK(run.runner_id == "runner-2");
}

TEST_CASE("cancel stops a running pipeline and its processes") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  BusWatcher bus(cluster, {"run."});
  const auto team = AddShellTeam(cluster, "exec sleep 60");
  const auto run_id = cluster.Trigger(team).run_id;
  REQUIRE(WaitStarted(bus, run_id));
  schemas::ControlRequest cancel;
  cancel.op = "cancel";
  cancel.run_id = run_id;
  REQUIRE(cluster.Call(cancel).ok());
  const auto run = cluster.WaitForTerminal(run_id);
  CHECK(run.state == schemas::RunState::kCancelled);
  CHECK(NoLeftovers(run_id));
  CHECK_FALSE(cluster.Call(cancel).ok());  // already ended
}

TEST_CASE("one run at a time per team: a second run is skipped or queued by policy") {
  Cluster cluster({.runners = 2, .ticker = false, .notifier = false, .env = {}});
  BusWatcher bus(cluster, {"run."});
  SUBCASE("skip") {
    const auto team = AddShellTeam(cluster, "sleep 1", 3, 0, "skip");
    const auto first = cluster.Trigger(team);
    const auto second = cluster.Trigger(team);
    CHECK(second.state == schemas::RunState::kSkipped);
    CHECK(second.error.find(first.run_id) != std::string::npos);
    CHECK(cluster.WaitForTerminal(first.run_id).state == schemas::RunState::kSucceeded);
    CHECK(bus.WaitForRunEvent([&](const auto& e) { return e.run.run_id == second.run_id && e.event == "skipped"; }));
  }
  SUBCASE("queue") {
    const auto team = AddShellTeam(cluster, "sleep 1", 3, 0, "queue");
    const auto first = cluster.Trigger(team);
    const auto second = cluster.Trigger(team);
    CHECK(second.state == schemas::RunState::kQueued);
    const auto a = cluster.WaitForTerminal(first.run_id);
    const auto b = cluster.WaitForTerminal(second.run_id);
    CHECK(a.state == schemas::RunState::kSucceeded);
    CHECK(b.state == schemas::RunState::kSucceeded);
    CHECK(b.started_unix_ms >= a.finished_unix_ms);
    CheckOneEndAndNoOverlap(bus, second.run_id);
  }
}

TEST_CASE("SIGTERM to a runner drains: the running pipeline finishes before it exits") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_DRAIN_TIMEOUT_S", "20"}}});
  BusWatcher bus(cluster, {"run."});
  const auto team = AddShellTeam(cluster, "sleep 1; exit 0");
  const auto run_id = cluster.Trigger(team).run_id;
  REQUIRE(WaitStarted(bus, run_id));
  cluster.runner("runner-1").Signal(SIGTERM);
  auto status = cluster.runner("runner-1").Wait(std::chrono::seconds(15));
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  const auto run = cluster.WaitForTerminal(run_id);
  CHECK(run.state == schemas::RunState::kSucceeded);
  CHECK(run.attempt == 1);
}
