// daybreak chaos: N runs across M teams while runners and the broker are
// killed with SIGKILL and runners stalled (SIGSTOP for 1-5 s) at random;
// then checks every invariant from the broker's own event log. A run that
// cannot finish fails the check at once, named. Run it with scripts/chaos.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>
#include <set>
#include <thread>

#include "schemas/codec.h"
#include "tests/support/cluster.h"

namespace {

struct Args {
  int runs = 300;
  int teams = 20;
  int runners = 3;
  int seconds = 60;  // how long to keep triggering and killing
  std::uint64_t seed = 1;
  int finish_s = 120;  // after the faults, how long runs may take to end
  // A run with fewer faults than these proves too little, and fails.
  int min_broker_kills = 0;
  int min_runner_kills = 0;
  int min_stalls = 0;
};

// A runner stopped with SIGSTOP, to be continued at `resume_at`.
struct Stall {
  std::string runner;
  std::chrono::steady_clock::time_point resume_at;
};


}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"daybreak chaos: runs under random SIGKILLs of runners and the broker, then checks invariants"};
  app.add_option("--runs", args.runs, "manual runs to trigger")->check(CLI::Range(1, 100000));
  app.add_option("--teams", args.teams, "teams to spread them over")->check(CLI::Range(1, 10000));
  app.add_option("--runners", args.runners, "runner processes")->check(CLI::Range(1, 64));
  app.add_option("--seconds", args.seconds, "how long the killing goes on")->check(CLI::Range(1, 3600));
  app.add_option("--seed", args.seed, "random seed");
  app.add_option("--finish-seconds", args.finish_s,
                 "after the faults stop, how long every run gets to end before the check fails")
      ->check(CLI::Range(1, 3600));
  app.add_option("--min-broker-kills", args.min_broker_kills, "fail unless the broker was killed this often");
  app.add_option("--min-runner-kills", args.min_runner_kills, "fail unless runners were killed this often");
  app.add_option("--min-stalls", args.min_stalls, "fail unless runners were stalled this often");
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 rng(args.seed);
  testing::Cluster cluster({.runners = args.runners, .ticker = false, .notifier = false,
                            .env = {{"DAYBREAK_MAX_ATTEMPTS", "10"}}});
  for (int t = 1; t <= args.teams; ++t) {
    schemas::TeamRecord team;
    team.id = static_cast<std::uint32_t>(t);
    team.overlap = "queue";  // every run must eventually run
    // ~20% of attempts fail transiently; each takes 50-250 ms.
    team.command = {"/bin/sh", "-c",
                    "n=$(( 1$(date +%N) / 1000 % 100 )); sleep 0.$(( n % 3 + 1 ))"
                    "; [ $n -lt 20 ] && exit 75; exit 0"};
    cluster.AddTeam(team);
  }
  fmt::print("chaos: {} runs, {} teams, {} runners, killing for {} s (logs: {})\n", args.runs,
             args.teams, args.runners, args.seconds, cluster.root());

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(args.seconds);
  int triggered = 0, runner_kills = 0, broker_kills = 0, stalls = 0, next_runner = args.runners;
  std::vector<Stall> stalled;
  auto next_kill = start + std::chrono::milliseconds(700);
  std::set<std::string> run_ids;
  while (std::chrono::steady_clock::now() < end || triggered < args.runs) {
    if (triggered < args.runs) {
      try {
        run_ids.insert(cluster.Trigger(1 + rng() % args.teams, fmt::format("chaos-{}", triggered)).run_id);
        ++triggered;
      } catch (const std::exception&) {
        cluster.WaitForBroker(std::chrono::seconds(5));  // it was down: same key again
      }
    }
    for (auto it = stalled.begin(); it != stalled.end();) {
      if (std::chrono::steady_clock::now() < it->resume_at) {
        ++it;
        continue;
      }
      cluster.runner(it->runner).Signal(SIGCONT);
      it = stalled.erase(it);
    }
    // A random runner that is up and not stalled, or "" if there is none.
    auto pick_live = [&]() -> std::string {
      std::vector<std::string> live;
      for (int i = 1; i <= next_runner; ++i) {
        const std::string id = fmt::format("runner-{}", i);
        const bool is_stalled = std::any_of(stalled.begin(), stalled.end(),
                                            [&](const Stall& s) { return s.runner == id; });
        try {
          if (!is_stalled && cluster.runner(id).running()) live.push_back(id);
        } catch (const std::out_of_range&) {
        }
      }
      return live.empty() ? "" : live[rng() % live.size()];
    };
    if (std::chrono::steady_clock::now() >= next_kill && std::chrono::steady_clock::now() < end) {
      const auto fault = rng() % 5;
      if (fault == 1) {
        // A stall: the runner's pipelines go on while it cannot answer.
        const std::string victim = pick_live();
        if (!victim.empty()) {
          cluster.runner(victim).Signal(SIGSTOP);
          stalled.push_back({victim, std::chrono::steady_clock::now() +
                                         std::chrono::milliseconds(1000 + rng() % 4000)});
          ++stalls;
        }
      } else if (fault == 0) {
        cluster.StopBroker(SIGKILL);
        cluster.StartBroker();
        ++broker_kills;
      } else {
        const std::string victim = pick_live();
        if (!victim.empty()) {
          cluster.StopRunner(victim, SIGKILL);
          ++runner_kills;
          cluster.StartRunner(fmt::format("runner-{}", ++next_runner));
        }
      }
      next_kill = std::chrono::steady_clock::now() + std::chrono::milliseconds(300 + rng() % 1200);
    }
    const auto pace = std::chrono::milliseconds(args.seconds * 1000 / args.runs);
    std::this_thread::sleep_for(std::min(pace, std::chrono::milliseconds(50)));
  }
  for (const Stall& s : stalled) cluster.runner(s.runner).Signal(SIGCONT);
  fmt::print("chaos: triggered {} runs; killed runners {} times, the broker {} times; "
             "stalled runners {} times; waiting for the end\n",
             triggered, runner_kills, broker_kills, stalls);
  cluster.WaitForBroker(std::chrono::seconds(10));
  // One deadline for all runs, not one per run: a stuck run fails the check
  // after --finish-seconds, named, instead of holding it up for each.
  std::map<std::string, int> states;
  std::map<std::uint32_t, int> attempts;
  std::vector<std::string> unfinished_ids;
  const auto finish_by = std::chrono::steady_clock::now() + std::chrono::seconds(args.finish_s);
  for (const std::string& id : run_ids) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        finish_by - std::chrono::steady_clock::now());
    const auto run = cluster.WaitForTerminal(id, std::max(left, std::chrono::milliseconds(200)));
    if (!schemas::IsTerminal(run.state)) {
      unfinished_ids.push_back(fmt::format("{} ({}, attempt {}, runner {})", id,
                                           schemas::Name(run.state), run.attempt, run.runner_id));
    }
    ++states[std::string(schemas::Name(run.state))];
    ++attempts[run.attempt];
  }
  const int unfinished = static_cast<int>(unfinished_ids.size());

  // The event log is the whole truth: replay it and check the invariants.
  std::map<std::string, int> terminal_events;
  std::map<std::uint32_t, std::string> running;
  int overlaps = 0;
  std::uint64_t since = 0;
  while (true) {
    schemas::ControlRequest req;
    req.op = std::string(schemas::op::kEventsSince);
    req.since_seq = since;
    req.limit = 10000;
    auto reply = cluster.Call(req);
    if (!reply.ok() || reply.value().events.empty()) break;
    for (const auto& logged : reply.value().events) {
      since = logged.seq;
      if (!logged.topic.starts_with("run.")) continue;
      auto e = schemas::DecodeRunEvent(std::string_view(logged.payload.data(), logged.payload.size()));
      if (!e.ok()) continue;
      const auto& r = e.value().run;
      if (e.value().event == schemas::event::kStarted) {
        auto it = running.find(r.team);
        if (it != running.end() && it->second != r.run_id) ++overlaps;
        running[r.team] = r.run_id;
      }
      if (schemas::IsTerminal(r.state) || r.state == schemas::RunState::kRetryWait) {
        if (running.count(r.team) != 0 && running[r.team] == r.run_id) running.erase(r.team);
      }
      if (schemas::IsTerminal(r.state)) ++terminal_events[r.run_id];
    }
  }
  int not_exactly_once = 0;
  for (const std::string& id : run_ids) not_exactly_once += terminal_events[id] != 1;
  schemas::ControlRequest stats_req;
  stats_req.op = std::string(schemas::op::kStats);
  auto stats = cluster.Call(stats_req);

  fmt::print("\n{:<42} {}\n", "runs", run_ids.size());
  for (const auto& [state, n] : states) fmt::print("  {:<40} {}\n", state, n);
  fmt::print("{:<42} {}\n", "attempts (runs by attempt count)", "");
  for (const auto& [a, n] : attempts) fmt::print("  {:<40} {}\n", fmt::format("{} attempt(s)", a), n);
  fmt::print("{:<42} {}\n", "stale results rejected (since last restart)",
             stats.ok() ? stats.value().stats["stale_results"] : -1);
  fmt::print("{:<42} {}\n", "overlaps (must be 0)", overlaps);
  fmt::print("{:<42} {}\n", "runs without exactly one end (must be 0)", not_exactly_once);
  fmt::print("{:<42} {}\n", "runs not terminal at the end (must be 0)", unfinished);
  for (const std::string& id : unfinished_ids) fmt::print("  unfinished: {}\n", id);
  const bool enough_faults = broker_kills >= args.min_broker_kills &&
                             runner_kills >= args.min_runner_kills && stalls >= args.min_stalls;
  if (!enough_faults) {
    fmt::print("chaos: too few faults: {} broker kills (want {}), {} runner kills (want {}), "
               "{} stalls (want {})\n", broker_kills, args.min_broker_kills, runner_kills,
               args.min_runner_kills, stalls, args.min_stalls);
  }
  const bool ok = overlaps == 0 && not_exactly_once == 0 && unfinished == 0 && enough_faults;
  fmt::print("\nchaos: {}\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
