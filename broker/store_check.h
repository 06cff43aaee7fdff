// The run store's consistency check (issue 12): run records against their
// key and team indexes, the active index against run states, the
// one-run-per-team lock, records that do not decode, and the event log's
// continuity. Each problem is one line a person can act on. No RocksDB
// types here: RocksStore::Check checks the broker's own open store, and
// CheckStoreFolder a folder opened beside it (or with no broker at all).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace broker {

// A report lists at most this many problems (a control reply must stay
// small); `problem_count` has them all.
inline constexpr std::size_t kMaxListedProblems = 1000;

struct CheckReport {
  std::size_t runs = 0;          // r/ run records
  std::size_t run_keys = 0;      // k/ key index entries
  std::size_t team_entries = 0;  // t/ team history entries
  std::size_t active = 0;        // a/ active index entries
  std::size_t teams = 0;         // T/ team records
  std::size_t events = 0;        // e/ event-log entries
  std::size_t dead_letters = 0;  // D/ notifications given up on
  std::uint64_t first_seq = 0;   // 0: no events
  std::uint64_t last_seq = 0;
  std::uint64_t high_water = 0;  // 0: not compared (the live broker's check)
  std::size_t problem_count = 0;
  std::vector<std::string> problems;  // the first kMaxListedProblems

  bool ok() const { return problem_count == 0; }
  void Problem(std::string line);
  // "checked 80 runs, 80 run keys, ... events 1..390: no problems"
  std::string Summary() const;
  // The counts by name, as the control reply's `stats` carries them.
  std::map<std::string, std::int64_t> Counts() const;
};

// Opens the store in `dir` as a RocksDB secondary instance (read-only; the
// supported way to read beside a running broker, which holds the folder's
// LOCK; nothing is written in `dir`) and checks it, including that the log
// reaches the high-water mark the broker recorded. An error only when the
// folder cannot be opened or read: inconsistencies are in the report.
common::Result<CheckReport> CheckStoreFolder(const std::string& dir);

// daybreak-broker --check: the report of `dir` on stdout (a summary line,
// then one line per problem), or why it could not be made on stderr.
// Returns 0 when clean, 1 (common::kExitFailed) otherwise.
int PrintStoreCheck(const std::string& dir);

}  // namespace broker
