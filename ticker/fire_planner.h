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
#include <unordered_map>
#include <vector>

#include "common/schedule.h"
#include "schemas/messages.h"

namespace ticker {

class FirePlanner {
 public:
  // Replaces the schedule. Teams that fail to parse are logged and skipped;
  // what was already published for a kept team stays published.
  void SetTeams(const std::vector<schemas::TeamRecord>& teams);
  // One team added or changed (a schedule.changed), the rest untouched: a
  // paused, chained or unusable team is taken off the schedule.
  void PutTeam(const schemas::TeamRecord& team);
  void RemoveTeam(std::uint32_t team);

  // Due events for every active team whose latest fire at or before `now`
  // is newer than what this planner already emitted and not older than the
  // team's schedule (a team added at 03:00 owes nothing for 02:00). Only
  // the teams whose next fire has come are looked at: the cost is the fires
  // due, not the number of teams.
  std::vector<schemas::DueEvent> Collect(std::chrono::sys_seconds now);

  // The earliest fire not collected yet: strictly after `now` when every
  // fire up to `now` was collected, else one at or before `now` (a fire
  // whose instant passed while the caller was busy is owed, not skipped).
  std::optional<std::chrono::sys_seconds> NextFire(std::chrono::sys_seconds now);

  std::size_t team_count() const { return entries_.size(); }

 private:
  using Queue = std::multimap<std::chrono::sys_seconds, std::uint32_t>;  // fire -> team
  struct Entry {
    common::DailySchedule schedule;
    std::chrono::sys_seconds since{};
    std::optional<Queue::iterator> queued;  // its place in queue_, once planned
  };
  // The entry for `team`, or nullopt when the team is not on the clock.
  static std::optional<Entry> EntryFor(const schemas::TeamRecord& team);
  // Plans whatever is not in the queue yet, as of `now`.
  void Plan(std::chrono::sys_seconds now);
  // Queues `team` at the fire it owes as of `now`.
  void PlanOne(std::uint32_t team, Entry& entry, std::chrono::sys_seconds now);
  void Unqueue(Entry& entry);

  std::unordered_map<std::uint32_t, Entry> entries_;  // by team id
  std::map<std::uint32_t, std::chrono::sys_seconds> last_emitted_;
  Queue queue_;                          // each planned entry's next fire, soonest first
  std::vector<std::uint32_t> unplanned_;  // entries not in queue_ yet
};

}  // namespace ticker
