// Schedule math: daily local run times resolved to UTC instants with the
// system tz database, under the project's DST policy (DESIGN.md, "Scheduling
// rules"). Pure functions, no clock reads.
//
// DST policy:
//  - A local time that does not exist (spring-forward gap) fires at the first
//    valid instant after it, i.e. the transition instant.
//  - A local time that occurs twice (fall-back overlap) fires once, at the
//    first (earliest) occurrence.
//  - Every schedule fires once per local date and fire instants strictly
//    increase from one local date to the next. The only exception is a local
//    date that the zone skipped entirely (Pacific/Apia 2011-12-30): with run
//    time 00:00 its fire is the same instant as the next date's; that instant
//    is one fire, attributed to the date that exists (NextFireAfter,
//    LastFireAtOrBefore and FiresFrom never return the skipped date's fire).
//
// Limitation: date-tz with USE_OS_TZDB reads only the explicit transitions of
// the zoneinfo files, which end in 2037; later instants use the last offset.
#pragma once

#include <date/tz.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace common {

// Local wall time of the daily run.
struct TimeOfDay {
  int hour = 2;    // 0..23
  int minute = 0;  // 0..59
  friend bool operator==(const TimeOfDay&, const TimeOfDay&) = default;
};

// "HH:MM", 00:00..23:59, exactly two digits each.
Result<TimeOfDay> ParseTimeOfDay(std::string_view text);
// "02:00".
std::string FormatTimeOfDay(TimeOfDay t);

// "UTC", "Europe/Berlin", any name in the system tz database (links too).
// The zone lives as long as the process.
Result<const date::time_zone*> FindZone(std::string_view name);

// "YYYY-MM-DD", a real calendar date.
Result<date::local_days> ParseDate(std::string_view text);
// "2026-11-29".
std::string FormatDate(date::local_days d);
// "2026-03-08T07:00:00Z".
std::string FormatUtc(std::chrono::sys_seconds t);

// "tuesday", "Tue", "TUESDAY": English name or three-letter abbreviation,
// case-insensitive.
Result<date::weekday> ParseWeekday(std::string_view text);

struct DailySchedule {
  TimeOfDay time;
  const date::time_zone* zone = nullptr;  // REQUIRES: non-null when used
};

// One daily fire: which local date it belongs to, when it happens, and a note
// when DST moved or merged it.
struct Fire {
  date::local_days local_date;
  std::chrono::sys_seconds at;  // the UTC instant it fires
  // "" normally; otherwise e.g.
  // "02:30 does not exist on 2026-03-08 (DST gap); fires at 03:00" or
  // "01:30 occurs twice on 2026-11-01 (DST overlap); fires once, at the first".
  std::string note;
  friend bool operator==(const Fire&, const Fire&) = default;
};

// The local date that instant t falls on in zone.
date::local_days LocalDateOf(const date::time_zone* zone,
                             std::chrono::sys_seconds t);

// The fire belonging to local_date.
Fire FireOn(const DailySchedule& s, date::local_days local_date);
// The first fire strictly after t.
Fire NextFireAfter(const DailySchedule& s, std::chrono::sys_seconds t);
// The latest fire at or before t (always exists for t after year 1900).
Fire LastFireAtOrBefore(const DailySchedule& s, std::chrono::sys_seconds t);
// Upcoming fires: the first `count` fires whose local_date is >= from, in
// order (the same sequence NextFireAfter walks). Empty if count <= 0.
std::vector<Fire> FiresFrom(const DailySchedule& s, date::local_days from,
                            int count);

// Purchase date: the first `day` strictly after the scheduled local date
// (Monday -> the next day, Tuesday -> a week later).
date::local_days PurchaseDate(date::local_days scheduled_local_date,
                              date::weekday day = date::Tuesday);

}  // namespace common
