// The system benchmarks of issue 7. Each function runs one repetition of
// one scenario against freshly started processes and returns its figures
// by name (units are in the names' registry in system_bench.cc).
#pragma once

#include <map>
#include <string>

namespace bench {

using Figures = std::map<std::string, double>;

struct LoadSpec {
  int runs = 10000;
  int teams = 1000;
  int runners = 2;
  int slots = 64;
  bool noop = true;         // runner --noop, else spawn the team command /bin/true
  bool sync = false;        // DAYBREAK_SYNC_WRITES
  std::string overlap = "queue";
  std::string log_level;    // DAYBREAK_LOG_LEVEL; empty: the default (info)
  double pace_per_s = 0;    // 0: publish as fast as possible
  bool storm = false;       // scheduled due events, one per team, same fire time
};

// Publishes spec.runs due events on the bus and waits for every
// run.completed. Figures: "runs_per_s", "publish_s", and with pacing
// "dispatched_p50_ms" ... "completed_max_ms"; for a storm "dispatched_all_s",
// "completed_all_s", "lateness_p50_ms", "lateness_p99_ms".
Figures RunLoad(const LoadSpec& spec);

// Starts the broker on a copy of a store holding `teams` teams and `runs`
// terminal runs (built once into `cache_dir`). Figures: "rss_mib",
// "hwm_mib", "ready_s".
Figures RunRecovery(const std::string& cache_dir, int teams, int runs);

// posix_spawn + waitpid of /bin/true, one at a time, for `seconds`.
Figures RunSpawnBaseline(double seconds);

// REQ/REP round trips over loopback TCP between two threads.
Figures RunZmqBaseline(int round_trips);

// RunStore::Commit of a small change, synced and unsynced, for `seconds`.
Figures RunStoreBaseline(double seconds);

}  // namespace bench
