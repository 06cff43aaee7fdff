// Run keys of scheduled and backfilled runs: team plus local date, so the
// ticker, a restart, a schedule moved within the day and a backfill all
// name one daily run the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/schedule.h"

namespace common {

// "sched:7:2026-03-08", or "sched:general:2026-03-08" for the general run.
inline std::string ScheduledRunKey(std::uint32_t team, date::local_days local_date) {
  const std::string who = team == 0 ? "general" : std::to_string(team);
  return fmt::format("sched:{}:{}", who, FormatDate(local_date));
}

// Release 1 named scheduled runs with the configured time as well
// ("sched:7:2026-03-08T02:30"). Such a key's current form, or nothing for
// any other key.
inline std::optional<std::string> CurrentFormOfReleaseOneKey(std::string_view key) {
  constexpr std::string_view kPrefix = "sched:";
  constexpr std::size_t kTail = 16;  // "YYYY-MM-DDTHH:MM"
  if (!key.starts_with(kPrefix) || key.size() < kPrefix.size() + 2 + kTail) return std::nullopt;
  const std::string_view tail = key.substr(key.size() - kTail);
  if (key[key.size() - kTail - 1] != ':' || tail[10] != 'T') return std::nullopt;
  const std::string_view who = key.substr(kPrefix.size(), key.size() - kPrefix.size() - kTail - 1);
  if (who.empty() || who.find(':') != std::string_view::npos) return std::nullopt;
  if (!ParseDate(tail.substr(0, 10)).ok() || !ParseTimeOfDay(tail.substr(11)).ok()) {
    return std::nullopt;
  }
  return std::string(key.substr(0, key.size() - 6));  // without "THH:MM"
}

}  // namespace common
