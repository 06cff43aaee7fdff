#include "broker/missed_dates.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/run_key.h"
#include "common/schedule.h"
#include "common/team.h"
#include "schemas/vocabulary.h"

namespace broker {

common::Result<std::vector<schemas::DueEvent>> UnrecordedDatesBefore(
    const schemas::DueEvent& due, const schemas::TeamRecord& team,
    const std::function<common::Result<bool>(const std::string& key)>& recorded, int max_dates) {
  std::vector<schemas::DueEvent> missed;
  if (due.kind != schemas::kind::kScheduled || team.paused || !team.after.empty()) return missed;
  const auto date = common::ParseDate(due.local_date);
  const auto time = common::ParseTimeOfDay(team.run_time);
  const auto zone = common::FindZone(team.timezone);
  if (!date.ok() || !time.ok() || !zone.ok()) return missed;
  if (due.key != common::ScheduledRunKey(due.team, date.value())) return missed;
  const common::DailySchedule schedule{time.value(), zone.value()};
  for (auto day = date.value() - date::days(1);; day -= date::days(1)) {
    const common::Fire fire = common::FireOn(schedule, day);
    const std::int64_t fire_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(fire.at.time_since_epoch()).count();
    if (fire_ms < team.schedule_since_unix_ms) break;
    const std::string key = common::ScheduledRunKey(due.team, day);
    auto known = recorded(key);
    if (!known.ok()) return known.status();
    if (known.value()) break;
    if (static_cast<int>(missed.size()) == max_dates) {
      spdlog::warn("{}: no run recorded for {} or earlier dates either; recording only the {} dates "
                   "from {} to {}",
                   common::TeamLabel(due.team), common::FormatDate(day), max_dates,
                   missed.back().local_date, missed.front().local_date);
      break;
    }
    schemas::DueEvent earlier;
    earlier.team = due.team;
    earlier.kind = due.kind;
    earlier.key = key;
    earlier.fire_unix_ms = fire_ms;
    earlier.local_date = common::FormatDate(day);
    earlier.requested_by = due.requested_by + " (catch-up before " + due.local_date + ")";
    missed.push_back(std::move(earlier));
  }
  std::reverse(missed.begin(), missed.end());
  return missed;
}

}  // namespace broker
