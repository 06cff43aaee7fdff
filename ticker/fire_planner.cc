#include "ticker/fire_planner.h"

#include <spdlog/spdlog.h>

#include "common/run_key.h"

namespace ticker {

std::optional<FirePlanner::Entry> FirePlanner::EntryFor(const schemas::TeamRecord& team) {
  if (team.paused || !team.after.empty()) return std::nullopt;  // dependents run after others
  auto time = common::ParseTimeOfDay(team.run_time);
  auto zone = common::FindZone(team.timezone);
  if (!time.ok() || !zone.ok()) {
    spdlog::error("team {} has an unusable schedule ({} {}); not scheduling it", team.id,
                  team.run_time, team.timezone);
    return std::nullopt;
  }
  Entry e;
  e.schedule = {time.value(), zone.value()};
  e.since = std::chrono::floor<std::chrono::seconds>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(team.schedule_since_unix_ms)));
  return e;
}

void FirePlanner::SetTeams(const std::vector<schemas::TeamRecord>& teams) {
  std::unordered_map<std::uint32_t, Entry> entries;
  std::map<std::uint32_t, std::chrono::sys_seconds> kept;
  entries.reserve(teams.size());
  unplanned_.clear();
  for (const schemas::TeamRecord& team : teams) {
    std::optional<Entry> e = EntryFor(team);
    if (!e) continue;
    entries[team.id] = std::move(*e);
    unplanned_.push_back(team.id);
    if (auto it = last_emitted_.find(team.id); it != last_emitted_.end()) kept.insert(*it);
  }
  entries_ = std::move(entries);
  last_emitted_ = std::move(kept);
  queue_.clear();  // the next Collect or NextFire knows the time
}

void FirePlanner::PutTeam(const schemas::TeamRecord& team) {
  std::optional<Entry> e = EntryFor(team);
  if (!e) {
    RemoveTeam(team.id);
    return;
  }
  if (auto it = entries_.find(team.id); it != entries_.end()) Unqueue(it->second);
  entries_[team.id] = std::move(*e);
  unplanned_.push_back(team.id);
}

void FirePlanner::RemoveTeam(std::uint32_t team) {
  auto it = entries_.find(team);
  if (it == entries_.end()) return;
  Unqueue(it->second);
  entries_.erase(it);
  last_emitted_.erase(team);
}

void FirePlanner::Unqueue(Entry& entry) {
  if (entry.queued) queue_.erase(*entry.queued);
  entry.queued.reset();
}

void FirePlanner::PlanOne(std::uint32_t team, Entry& e, std::chrono::sys_seconds now) {
  const common::Fire fire = common::LastFireAtOrBefore(e.schedule, now);
  const auto last = last_emitted_.find(team);
  const bool owed = fire.at >= e.since && (last == last_emitted_.end() || fire.at > last->second);
  Unqueue(e);
  e.queued = queue_.emplace(owed ? fire.at : common::NextFireAfter(e.schedule, now).at, team);
}

void FirePlanner::Plan(std::chrono::sys_seconds now) {
  for (std::uint32_t team : unplanned_) {
    auto it = entries_.find(team);
    if (it != entries_.end()) PlanOne(team, it->second, now);  // else removed since
  }
  unplanned_.clear();
}

std::vector<schemas::DueEvent> FirePlanner::Collect(std::chrono::sys_seconds now) {
  Plan(now);
  std::vector<schemas::DueEvent> due;
  while (!queue_.empty() && queue_.begin()->first <= now) {
    const std::uint32_t team = queue_.begin()->second;
    Entry& e = entries_.at(team);
    queue_.erase(queue_.begin());
    e.queued = queue_.emplace(common::NextFireAfter(e.schedule, now).at, team);
    // The newest fire up to now: days slept through coalesce into one.
    const common::Fire fire = common::LastFireAtOrBefore(e.schedule, now);
    if (fire.at < e.since) continue;
    auto last = last_emitted_.find(team);
    if (last != last_emitted_.end() && fire.at <= last->second) continue;
    last_emitted_[team] = fire.at;
    schemas::DueEvent event;
    event.key = common::ScheduledRunKey(team, fire.local_date);
    event.team = team;
    event.kind = std::string(schemas::kind::kScheduled);
    event.fire_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             fire.at.time_since_epoch()).count();
    event.local_date = common::FormatDate(fire.local_date);
    event.requested_by = "ticker";
    due.push_back(std::move(event));
  }
  return due;
}

std::optional<std::chrono::sys_seconds> FirePlanner::NextFire(std::chrono::sys_seconds now) {
  Plan(now);
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first;
}

}  // namespace ticker
