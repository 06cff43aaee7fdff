#include "ticker/fire_planner.h"

#include <spdlog/spdlog.h>

#include "common/run_key.h"

namespace ticker {

void FirePlanner::SetTeams(const std::vector<schemas::TeamRecord>& teams) {
  std::vector<Entry> entries;
  std::map<std::uint32_t, std::chrono::sys_seconds> kept;
  for (const schemas::TeamRecord& team : teams) {
    if (team.paused || !team.after.empty()) continue;  // dependents run after others
    auto time = common::ParseTimeOfDay(team.run_time);
    auto zone = common::FindZone(team.timezone);
    if (!time.ok() || !zone.ok()) {
      spdlog::error("team {} has an unusable schedule ({} {}); not scheduling it", team.id,
                    team.run_time, team.timezone);
      continue;
    }
    Entry e;
    e.team = team.id;
    e.schedule = {time.value(), zone.value()};
    e.since = std::chrono::floor<std::chrono::seconds>(
        std::chrono::sys_time<std::chrono::milliseconds>(
            std::chrono::milliseconds(team.schedule_since_unix_ms)));
    entries.push_back(e);
    if (auto it = last_emitted_.find(team.id); it != last_emitted_.end()) kept.insert(*it);
  }
  entries_ = std::move(entries);
  last_emitted_ = std::move(kept);
}

std::vector<schemas::DueEvent> FirePlanner::Collect(std::chrono::sys_seconds now) {
  std::vector<schemas::DueEvent> due;
  for (const Entry& e : entries_) {
    const common::Fire fire = common::LastFireAtOrBefore(e.schedule, now);
    if (fire.at < e.since) continue;
    auto last = last_emitted_.find(e.team);
    if (last != last_emitted_.end() && fire.at <= last->second) continue;
    last_emitted_[e.team] = fire.at;
    schemas::DueEvent event;
    event.key = common::ScheduledRunKey(e.team, fire.local_date);
    event.team = e.team;
    event.kind = std::string(schemas::kind::kScheduled);
    event.fire_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             fire.at.time_since_epoch()).count();
    event.local_date = common::FormatDate(fire.local_date);
    event.requested_by = "ticker";
    due.push_back(std::move(event));
  }
  return due;
}

std::optional<std::chrono::sys_seconds> FirePlanner::NextFire(std::chrono::sys_seconds now) const {
  std::optional<std::chrono::sys_seconds> next;
  for (const Entry& e : entries_) {
    const auto at = common::NextFireAfter(e.schedule, now).at;
    if (!next || at < *next) next = at;
  }
  return next;
}

}  // namespace ticker
