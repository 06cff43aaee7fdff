// Run keys of scheduled and backfilled runs: team plus local fire date and
// configured time, so the ticker, a restart and a backfill all name one
// daily run the same way.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "common/schedule.h"

namespace common {

// "sched:7:2026-03-08T02:30", or "sched:general:..." for the general run.
inline std::string ScheduledRunKey(std::uint32_t team, date::local_days local_date,
                                   TimeOfDay time) {
  const std::string who = team == 0 ? "general" : std::to_string(team);
  return fmt::format("sched:{}:{}T{}", who, FormatDate(local_date), FormatTimeOfDay(time));
}

}  // namespace common
