// Workload: the chaos run's mix of work, asked for through the broker's
// control socket like any client (manual triggers on queue and skip teams,
// cancels, backfills of two upstream teams that two chained teams follow)
// and through the real ticker (teams scheduled to fire inside the run, on
// a wall clock shifted by DAYBREAK_WALL_CLOCK_OFFSET_MS). Every request the
// broker acknowledges goes into the Ledger with how it must end.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/chaos/ledger.h"
#include "tests/support/cluster.h"

namespace chaos {

struct WorkloadSettings {
  int runs = 300;    // at least this many runs in all
  int teams = 20;    // >= 8: 4 chained/upstream, ticker, skip and queue teams
  int seconds = 60;  // the asking is spread over this long
  std::chrono::milliseconds clock_offset{0};  // the broker's and ticker's
  int cancel_percent = 4;                      // of manual runs on queue teams
  std::vector<std::string> command;            // every team's pipeline
};

// What was asked and how the broker answered, for the summary.
struct WorkloadCounts {
  int triggers = 0, skip_triggers = 0, backfill_requests = 0, backfill_runs = 0;
  int ticker_fires = 0, chained = 0, cancels = 0, cancel_retries = 0, control_retries = 0;
};

class Workload {
 public:
  // `cluster`, `ledger` and `rng` must outlive the Workload.
  Workload(testing::Cluster& cluster, Ledger& ledger, std::mt19937_64& rng,
           WorkloadSettings settings);

  // Puts every team (and the general one, off the clock) and schedules
  // the ticker teams' fires inside the run. Throws if the broker refuses.
  void SetUpTeams();
  // Sends what is due `elapsed` into the run; a request the broker did not
  // answer is sent again on the next call. Returns false once all is sent.
  bool Step(std::chrono::steady_clock::duration elapsed);
  const WorkloadCounts& counts() const { return counts_; }

 private:
  struct Action {
    enum Kind { kTrigger, kBackfill, kCancel } kind = kTrigger;
    double at_s = 0;
    std::uint32_t team = 0;
    std::string key;         // trigger: its key; cancel: the trigger's key
    std::string from, to;    // backfill dates
    bool tried = false;      // an earlier try got no answer
  };
  bool Do(Action& action);  // false: no answer, try again
  bool DoTrigger(Action& a);
  bool DoBackfill(Action& a);
  bool DoCancel(Action& a);
  void Plan();
  std::chrono::system_clock::time_point SimNow() const;

  testing::Cluster& cluster_;
  Ledger& ledger_;
  std::mt19937_64& rng_;
  WorkloadSettings settings_;
  WorkloadCounts counts_;
  std::vector<std::uint32_t> queue_teams_, skip_teams_, ticker_teams_;
  std::uint32_t upstream_a_ = 1, upstream_b_ = 2, chained_c_ = 3, chained_d_ = 4;
  std::vector<Action> actions_;
  std::size_t next_ = 0;
  std::map<std::string, int> upstream_dates_;  // date -> upstream teams acked
};

}  // namespace chaos
