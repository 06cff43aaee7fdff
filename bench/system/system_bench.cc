// system_bench: Daybreak's system benchmarks (issue 7) against the real
// daybreak-broker and daybreak-runner on loopback. Runs each scenario
// several times and prints one line per figure:
//
//   FIGURE <tab> name <tab> unit <tab> median <tab> min <tab> max <tab> reps
//          <tab> target <tab> pass|miss|-
//
// Usage: system_bench [--quick] [--reps N] [--cache-dir DIR]
//                     [--log-level LEVEL] [scenario...]
// Scenarios: baseline throughput spawn latency storm durable recovery
// (default: all). scripts/bench formats the lines into a table.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/system/scenarios.h"

namespace {

struct Target {
  enum class Kind { kNone, kAtLeast, kAtMost } kind = Target::Kind::kNone;
  double value = 0;
  std::string text;
};

struct Row {
  std::string name;
  std::string unit;
  std::vector<double> values;
  Target target;
};

class Table {
 public:
  Row& At(const std::string& name, const std::string& unit, Target target = {}) {
    for (Row& r : rows_) {
      if (r.name == name) return r;
    }
    rows_.push_back({name, unit, {}, std::move(target)});
    return rows_.back();
  }
  double Median(const std::string& name) const {
    for (const Row& r : rows_) {
      if (r.name == name && !r.values.empty()) return Sorted(r.values)[r.values.size() / 2];
    }
    return 0;
  }
  void Print() const {
    for (const Row& r : rows_) {
      if (r.values.empty()) continue;
      const std::vector<double> v = Sorted(r.values);
      const double median = v.size() % 2 == 1 ? v[v.size() / 2]
                                              : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
      std::string verdict = "-";
      if (r.target.kind == Target::Kind::kAtLeast) verdict = median >= r.target.value ? "pass" : "miss";
      if (r.target.kind == Target::Kind::kAtMost) verdict = median <= r.target.value ? "pass" : "miss";
      fmt::print("FIGURE\t{}\t{}\t{:.6g}\t{:.6g}\t{:.6g}\t{}\t{}\t{}\n", r.name, r.unit, median,
                 v.front(), v.back(), v.size(), r.target.text.empty() ? "-" : r.target.text,
                 verdict);
    }
  }

 private:
  static std::vector<double> Sorted(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v;
  }
  std::vector<Row> rows_;
};

Target AtLeast(double v, std::string text) { return {Target::Kind::kAtLeast, v, std::move(text)}; }
Target AtMost(double v, std::string text) { return {Target::Kind::kAtMost, v, std::move(text)}; }

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int reps = 3;
  std::string cache_dir = "/tmp/daybreak-bench-cache";
  std::string log_level;
  int noop_slots = 64;
  int true_slots = 4;
  std::vector<std::string> scenarios;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") quick = true;
    else if (a == "--reps") reps = std::max(1, std::stoi(next()));
    else if (a == "--cache-dir") cache_dir = next();
    else if (a == "--log-level") log_level = next();
    else if (a == "--noop-slots") noop_slots = std::stoi(next());
    else if (a == "--true-slots") true_slots = std::stoi(next());
    else if (a.starts_with("-")) {
      fmt::print(stderr, "unknown option {}\n", a);
      return 2;
    } else scenarios.push_back(a);
  }
  if (scenarios.empty()) {
    scenarios = {"baseline", "throughput", "spawn", "latency", "storm", "durable", "recovery"};
  }
  auto wanted = [&](const std::string& s) {
    return std::find(scenarios.begin(), scenarios.end(), s) != scenarios.end();
  };
  Table table;
  auto repeat = [&](const std::string& what, int n, const std::function<void()>& body) {
    for (int r = 0; r < n; ++r) {
      fmt::print(stderr, "system_bench: {} ({}/{})\n", what, r + 1, n);
      body();
    }
  };
  try {
    bench::LoadSpec base;
    base.log_level = log_level;
    if (wanted("baseline")) {
      repeat("baselines", quick ? 1 : reps, [&] {
        auto spawn = bench::RunSpawnBaseline(quick ? 0.5 : 1.5);
        table.At("machine: posix_spawn /bin/true, serial", "spawns/s").values.push_back(spawn["spawns_per_s"]);
        auto zmq_rtt = bench::RunZmqBaseline(quick ? 2000 : 10000);
        table.At("machine: ZeroMQ REQ/REP round trip, loopback TCP, p50", "ms").values.push_back(zmq_rtt["rtt_p50_ms"]);
        table.At("machine: ZeroMQ REQ/REP round trip, loopback TCP, p99", "ms").values.push_back(zmq_rtt["rtt_p99_ms"]);
        auto store = bench::RunStoreBaseline(quick ? 0.5 : 1.0);
        table.At("machine: RocksDB commit, unsynced", "writes/s").values.push_back(store["unsynced_per_s"]);
        table.At("machine: RocksDB commit, synced", "writes/s").values.push_back(store["synced_per_s"]);
      });
    }
    if (wanted("throughput")) {
      bench::LoadSpec s = base;
      s.runs = quick ? 5000 : 10000;
      s.slots = noop_slots;
      repeat("throughput, no-op", reps, [&] {
        table.At(fmt::format("throughput no-op ({} runs, 1000 teams, 2 runners x {} slots)", s.runs, s.slots),
                 "runs/s", AtLeast(30000, ">= 30000"))
            .values.push_back(bench::RunLoad(s)["runs_per_s"]);
      });
    }
    if (wanted("spawn")) {
      bench::LoadSpec s = base;
      // 10,000 runs at the runner's present pace would take over a minute.
      s.runs = quick ? 1000 : 2000;
      s.noop = false;
      s.slots = true_slots;
      const double spawn_rate = table.Median("machine: posix_spawn /bin/true, serial");
      Target t;
      if (spawn_rate > 0) t = AtLeast(0.9 * spawn_rate, fmt::format(">= {:.0f} (90% spawn)", 0.9 * spawn_rate));
      repeat("throughput, /bin/true", quick ? 1 : reps, [&] {
        table.At(fmt::format("throughput /bin/true ({} runs, 2 runners x {} slots)", s.runs, s.slots),
                 "runs/s", t)
            .values.push_back(bench::RunLoad(s)["runs_per_s"]);
      });
    }
    if (wanted("latency")) {
      bench::LoadSpec s = base;
      s.runs = quick ? 400 : 2000;
      s.pace_per_s = 200;
      s.slots = noop_slots;
      repeat("latency at 200 runs/s", quick ? 1 : reps, [&] {
        auto f = bench::RunLoad(s);
        table.At("latency bus hop only (publish -> broker -> subscriber) p50", "ms")
            .values.push_back(f["bus_hop_p50_ms"]);
        table.At("latency bus hop only (publish -> broker -> subscriber) p99", "ms")
            .values.push_back(f["bus_hop_p99_ms"]);
        table.At("latency publish -> run.dispatched p50", "ms").values.push_back(f["dispatched_p50_ms"]);
        table.At("latency publish -> run.started p50", "ms").values.push_back(f["started_p50_ms"]);
        table.At("latency publish -> run.started p99", "ms", AtMost(0.5, "< 0.5"))
            .values.push_back(f["started_p99_ms"]);
        table.At("latency publish -> run.started max", "ms").values.push_back(f["started_max_ms"]);
        table.At("latency publish -> run.completed p50", "ms").values.push_back(f["completed_p50_ms"]);
        table.At("latency publish -> run.completed p99", "ms").values.push_back(f["completed_p99_ms"]);
        table.At("latency publish -> run.completed max", "ms").values.push_back(f["completed_max_ms"]);
      });
    }
    if (wanted("storm")) {
      bench::LoadSpec s = base;
      s.runs = 10000;
      s.teams = 10000;
      s.storm = true;
      s.overlap = "";
      s.slots = noop_slots;
      repeat("storm of 10000 teams", quick ? 1 : reps, [&] {
        auto f = bench::RunLoad(s);
        table.At("storm 10000 fires: all dispatched", "s", AtMost(0.5, "<= 0.5"))
            .values.push_back(f["dispatched_all_s"]);
        table.At("storm 10000 fires: all completed", "s").values.push_back(f["completed_all_s"]);
        table.At("storm lateness (dispatch - fire) p50", "ms").values.push_back(f["lateness_p50_ms"]);
        table.At("storm lateness (dispatch - fire) p99", "ms").values.push_back(f["lateness_p99_ms"]);
      });
      if (!quick) {  // the big one: about a minute with its 100,000 teams' set-up
        s.runs = 100000;
        s.teams = 100000;
        repeat("storm of 100000 teams", 1, [&] {
          auto f = bench::RunLoad(s);
          table.At("storm 100000 fires: all dispatched", "s", AtMost(5, "<= 5"))
              .values.push_back(f["dispatched_all_s"]);
          table.At("storm 100000 lateness (dispatch - fire) p99", "ms").values.push_back(f["lateness_p99_ms"]);
        });
      }
    }
    if (wanted("durable")) {
      bench::LoadSpec s = base;
      // This disk syncs a few hundred times a second and every state change
      // is its own synced batch, so 10,000 runs would take minutes.
      s.runs = quick ? 300 : 2000;
      s.sync = true;
      s.slots = noop_slots;
      repeat("durable throughput", quick ? 1 : reps, [&] {
        table.At(fmt::format("durable (synced WAL) throughput no-op ({} runs)", s.runs), "runs/s",
                 AtLeast(5000, ">= 5000"))
            .values.push_back(bench::RunLoad(s)["runs_per_s"]);
      });
    }
    if (wanted("recovery")) {
      repeat("recovery with 100000 teams, 1000000 runs", quick ? 1 : reps, [&] {
        auto f = bench::RunRecovery(cache_dir, 100000, 1000000);
        table.At("broker RSS after ready (100k teams, 1M runs)", "MiB", AtMost(64, "< 64"))
            .values.push_back(f["rss_mib"]);
        table.At("broker RSS 0.5 s after ready", "MiB", AtMost(64, "< 64"))
            .values.push_back(f["rss_settled_mib"]);
        table.At("broker start -> first ping answered", "s", AtMost(1, "<= 1"))
            .values.push_back(f["ready_s"]);
      });
    }
  } catch (const std::exception& e) {
    table.Print();
    fmt::print(stderr, "system_bench: {}\n", e.what());
    return 1;
  }
  table.Print();
  return 0;
}
