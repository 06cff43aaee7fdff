// daybreak chaos: runs of every kind (manual, skip-team, cancelled,
// backfilled, chained, ticker-fired) while the broker, runners, ticker and
// notifier are killed with SIGKILL, runners stalled with SIGSTOP and, as
// root, runners' links cut; then checks that every run the broker
// acknowledged ended exactly once as it must, from the driver's ledger,
// the notifier's webhook deliveries and the pipeline stub's own traces.
// A run that cannot finish fails the check at once, named. Run it with
// scripts/chaos; scripts/soak runs it at full size.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/chaos/checks.h"
#include "tests/chaos/faults.h"
#include "tests/chaos/netns.h"
#include "tests/chaos/report.h"
#include "tests/chaos/webhook_receiver.h"
#include "tests/chaos/workload.h"
#include "tests/support/cluster.h"

namespace {

using namespace std::chrono;

struct Args {
  chaos::WorkloadSettings work;
  int runners = 3;
  std::uint64_t seed = 1;
  int finish_s = 120;  // after the faults, how long runs may take to end
  int stuck_s = 30;    // no run ending for this long means stuck: fail now
  int long_percent = 3;
  int slots = 1;           // per runner
  int within_s = 0;        // the whole run must take no longer (0: no limit)
  chaos::FaultCounts minimum;
  bool netns = true, link_downs_optional = false;
};

// Waits until every run in the ledger has ended, the deadline passes, or
// nothing ends for `stuck`; returns the keys still open.
std::vector<std::string> WaitForEnds(const chaos::Ledger& ledger, chaos::WebhookReceiver& hooks,
                                     steady_clock::time_point deadline, seconds stuck) {
  std::size_t ended = hooks.WaitForChange(milliseconds(0));
  auto last_progress = steady_clock::now();
  while (true) {
    std::vector<std::string> open = chaos::Unfinished(ledger, hooks.notices());
    const auto now = steady_clock::now();
    if (open.empty() || now >= deadline || now - last_progress >= stuck) return open;
    const std::size_t now_ended = hooks.WaitForChange(seconds(1));
    if (now_ended != ended) last_progress = steady_clock::now();
    ended = now_ended;
  }
}

// Milliseconds that put the broker's and ticker's wall clock two days
// ahead, at 50 s past a minute now, so ticker fires come within seconds.
milliseconds ClockOffset() {
  const auto now = system_clock::now();
  const auto target = ceil<minutes>(now) + days(2) - seconds(10);
  return duration_cast<milliseconds>(target - now);
}

int RunChaos(int argc, char** argv) {
  Args args;
  CLI::App app{"daybreak chaos: every kind of run under random faults, then every invariant"};
  app.add_option("--runs", args.work.runs, "runs in all (manual, backfilled, chained, ticker)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--teams", args.work.teams, "teams (at least 8)")->check(CLI::Range(8, 10000));
  app.add_option("--runners", args.runners, "runner processes")->check(CLI::Range(1, 64));
  app.add_option("--seconds", args.work.seconds, "how long the faults go on")->check(CLI::Range(1, 3600));
  app.add_option("--seed", args.seed, "random seed");
  app.add_option("--finish-seconds", args.finish_s,
                 "after the faults stop, how long every run gets to end")->check(CLI::Range(1, 3600));
  app.add_option("--stuck-seconds", args.stuck_s,
                 "fail as soon as no run has ended for this long")->check(CLI::Range(5, 3600));
  app.add_option("--cancel-percent", args.work.cancel_percent, "manual runs cancelled")
      ->check(CLI::Range(0, 100));
  app.add_option("--long-percent", args.long_percent, "attempts that take 1-3 s")
      ->check(CLI::Range(0, 100));
  app.add_option("--slots", args.slots, "pipeline slots per runner")->check(CLI::Range(1, 16));
  app.add_option("--within-seconds", args.within_s,
                 "fail unless the whole run, set-up to verdict, takes no longer")
      ->check(CLI::Range(0, 36000));
  app.add_option("--min-broker-kills", args.minimum.broker_kills, "fail with fewer broker kills");
  app.add_option("--min-runner-kills", args.minimum.runner_kills, "fail with fewer runner kills");
  app.add_option("--min-stalls", args.minimum.stalls, "fail with fewer runner stalls");
  app.add_option("--min-link-downs", args.minimum.link_downs, "fail with fewer link-downs");
  app.add_flag("!--no-netns", args.netns, "keep runners out of network namespaces (no link-downs)");
  app.add_flag("--link-downs-optional", args.link_downs_optional,
               "where namespaces cannot be made, skip link-downs instead of failing");
  CLI11_PARSE(app, argc, argv);

  const auto started = steady_clock::now();
  std::string why_no_netns = "--no-netns given";
  std::unique_ptr<chaos::NetnsLab> lab =
      args.netns ? chaos::NetnsLab::Create(args.runners, &why_no_netns) : nullptr;
  std::string link_note;
  if (lab == nullptr) {
    link_note = "skipped: " + why_no_netns;
    fmt::print("chaos: LINK-DOWNS SKIPPED: {}\n", why_no_netns);
    if (args.link_downs_optional) args.minimum.link_downs = 0;
  }
  chaos::WebhookReceiver hooks;
  std::map<std::string, int> runner_slot;
  for (int i = 0; i < args.runners; ++i) runner_slot[fmt::format("runner-{}", i + 1)] = i;
  args.work.clock_offset = ClockOffset();
  testing::ClusterOptions options{
      .runners = args.runners, .ticker = true, .notifier = true,
      .env = {{"DAYBREAK_MAX_ATTEMPTS", "50"},
              {"DAYBREAK_SLOTS", std::to_string(args.slots)},
              {"DAYBREAK_DISPATCH_TIMEOUT_S", "10"},
              {"DAYBREAK_WALL_CLOCK_OFFSET_MS", std::to_string(args.work.clock_offset.count())},
              {"DAYBREAK_WEBHOOK_URL", hooks.url()},
              {"DAYBREAK_NOTIFIER_RETRY_INITIAL_S", "0.2"},
              {"DAYBREAK_NOTIFIER_RETRY_MAX_S", "1"}}};
  if (lab != nullptr) {
    options.host = lab->host_address();
    options.runner_prefix = [&](const std::string& id) { return lab->Prefix(runner_slot.at(id)); };
  }
  testing::Cluster cluster(options);
  const std::string stub_dir = cluster.shared() + "/stub";  // writable to the stub
  std::filesystem::create_directories(stub_dir);
  args.work.command = chaos::StubCommand(stub_dir, cluster.root(), args.long_percent);

  std::mt19937_64 rng(args.seed);
  chaos::Ledger ledger;
  chaos::Workload work(cluster, ledger, rng, args.work);
  work.SetUpTeams();
  fmt::print("chaos: {} runs, {} teams, {} runners{}, faults for {} s, seed {} (logs: {})\n",
             args.work.runs, args.work.teams, args.runners,
             lab ? " in network namespaces" : "", args.work.seconds, args.seed, cluster.root());
  chaos::FaultInjector faults(cluster, lab.get(), runner_slot, args.seed * 7919 + 1,
                              {.runners = args.runners, .window = seconds(args.work.seconds),
                               .minimum = args.minimum});
  const auto t0 = steady_clock::now();
  faults.Start();
  while (work.Step(steady_clock::now() - t0)) {
    std::this_thread::sleep_for(milliseconds(10));  // pacing the requests
  }
  faults.Finish();
  const chaos::FaultCounts f = faults.counts();
  fmt::print("chaos: asked for {} runs; killed the broker {}, runners {}, ticker {}, notifier {} "
             "times; {} stalls, {} link-downs; waiting for the end\n",
             ledger.size(), f.broker_kills, f.runner_kills, f.ticker_kills, f.notifier_kills,
             f.stalls, f.link_downs);
  cluster.WaitForBroker(seconds(10));
  // One deadline for all runs, and none at all once nothing moves: a stuck
  // run fails the check now, named, instead of being waited for.
  const std::vector<std::string> open = WaitForEnds(
      ledger, hooks, steady_clock::now() + seconds(args.finish_s), seconds(args.stuck_s));
  for (std::size_t i = 0; i < open.size() && i < 40; ++i) {
    const std::string& key = open[i];
    const chaos::Expectation& e = ledger.all().at(key);
    schemas::ControlRequest get;
    get.op = std::string(schemas::op::kRunGet);
    get.run_id = e.run_id;
    auto r = e.run_id.empty() ? common::Result<schemas::ControlReply>(schemas::ControlReply{})
                              : cluster.Call(get);
    fmt::print("  unfinished: {} {} ({}, team {}): broker says {}\n", e.run_id, key, e.source, e.team,
               !r.ok() ? r.status().message()
                       : e.run_id.empty() ? "nothing yet (no run for the key)"
                                          : fmt::format("{}, attempt {}, runner {}",
                                                        schemas::Name(r.value().run.state),
                                                        r.value().run.attempt, r.value().run.runner_id));
  }
  if (open.size() > 40) fmt::print("  ... and {} more unfinished\n", open.size() - 40);
  schemas::ControlRequest stats_req;
  stats_req.op = std::string(schemas::op::kStats);
  auto stats = cluster.Call(stats_req);
  const std::uint64_t last_seq = stats.ok() ? stats.value().stats["last_seq"] : 0;
  if (!hooks.WaitForAll(last_seq, seconds(60))) {
    fmt::print("chaos: the notifier has not delivered every event up to {}\n", last_seq);
  }
  // Stop every runner the orderly way, then nothing of the stub may live.
  for (const std::string& id : faults.live_runners()) cluster.StopRunner(id, SIGTERM);
  const std::vector<std::string> leftovers = chaos::ScanLeftovers(cluster.root(), seconds(5));
  const chaos::Verdict verdict = chaos::Judge(ledger, hooks.notices(), last_seq,
                                              chaos::ReadStubLogs(stub_dir),
                                              cluster.data("outputs"), leftovers);
  const chaos::Delivery delivery{hooks.deliveries(), hooks.repeats(), hooks.conflicts(),
                                 hooks.malformed(),
                                 stats.ok() ? stats.value().stats["stale_results"] : -1};
  const double took_s = duration<double>(steady_clock::now() - started).count();
  chaos::PrintSummary(verdict, work.counts(), f, delivery, link_note, took_s);
  const bool in_time = args.within_s == 0 || took_s <= args.within_s;
  if (!in_time) fmt::print("chaos: took {:.0f} s, more than --within-seconds {}\n", took_s, args.within_s);
  const chaos::FaultCounts& m = args.minimum;
  const bool enough = f.broker_kills >= m.broker_kills && f.runner_kills >= m.runner_kills &&
                      f.stalls >= m.stalls && f.link_downs >= m.link_downs;
  if (!enough) {
    fmt::print("chaos: too few faults: {} broker kills (want {}), {} runner kills (want {}), "
               "{} stalls (want {}), {} link-downs (want {}{})\n", f.broker_kills, m.broker_kills,
               f.runner_kills, m.runner_kills, f.stalls, m.stalls, f.link_downs, m.link_downs,
               lab ? "" : "; " + link_note);
  }
  const bool ok = verdict.ok() && enough && in_time && open.empty() && delivery.conflicts == 0 &&
                  delivery.malformed == 0;
  fmt::print("\nchaos: {}\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Unwinding on a throw runs the destructors that stop the processes and
  // delete the network namespaces.
  try {
    return RunChaos(argc, argv);
  } catch (const std::exception& e) {
    fmt::print("chaos: FAIL: {}\n", e.what());
    return 1;
  }
}
