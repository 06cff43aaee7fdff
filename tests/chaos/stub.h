// The pipeline stub every chaos team runs, and what it leaves behind: its
// own per-team log of attempts (start and end stamps, and a flock probe
// that notices another live attempt of the team), and one output file per
// attempt in each output folder, named for its run and attempt.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chaos {

// The argv of the stub: always succeeds after 0.1-0.36 s (`long_percent` of
// attempts take 1-3 s instead, long enough to outlive a lost runner).
// It exports CHAOS_MARK=`marker` so its processes can be found in /proc.
std::vector<std::string> StubCommand(const std::string& log_dir, const std::string& marker,
                                     int long_percent);

// One attempt as the stub logged it; `end_ns` is -1 when it never wrote
// its end (it was killed).
struct StubAttempt {
  std::string run_id;
  std::uint32_t attempt = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = -1;
};

struct StubLog {
  std::map<std::uint32_t, std::vector<StubAttempt>> teams;  // by start
  // Attempts that found their team's lock held by another live attempt.
  std::vector<std::string> lock_conflicts;
};

// Reads every team_<id>.log in `log_dir`.
StubLog ReadStubLogs(const std::string& log_dir);

// Two attempts of one team whose logged intervals intersect, and every
// lock conflict, described for people; empty means no overlap.
std::vector<std::string> Overlaps(const StubLog& log);

// The output file the stub writes for an attempt.
std::string StubOutputName(const std::string& run_id, std::uint32_t attempt);

}  // namespace chaos
