// FirePlanner: which due events the ticker owes at a given instant. It keeps
// no state worth saving: after a restart it owes each team's most recent
// fire again, and the broker's dedup by run key (team and local date) makes
// that harmless. Dates it skipped meanwhile are the broker's to record.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/schedule.h"
#include "schemas/messages.h"

namespace ticker {

class FirePlanner {
 public:
  // Replaces the schedule. Teams that fail to parse are logged and skipped;
  // what was already published for a kept team stays published.
  void SetTeams(const std::vector<schemas::TeamRecord>& teams);

  // Due events for every active team whose latest fire at or before `now`
  // is newer than what this planner already emitted and not older than the
  // team's schedule (a team added at 03:00 owes nothing for 02:00).
  std::vector<schemas::DueEvent> Collect(std::chrono::sys_seconds now);

  // The earliest fire strictly after `now`, if any team is active.
  std::optional<std::chrono::sys_seconds> NextFire(std::chrono::sys_seconds now) const;

  std::size_t team_count() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint32_t team = 0;
    common::DailySchedule schedule;
    std::chrono::sys_seconds since{};
  };
  std::vector<Entry> entries_;
  std::map<std::uint32_t, std::chrono::sys_seconds> last_emitted_;
};

}  // namespace ticker
