// Property test: every zone in the OS tz database, 2020-2035, run times on
// every half hour. For the local dates around each of a zone's offset changes
// (all of them) plus a sample of ordinary dates, checks against an oracle
// built only from the zone's UTC offset periods (sys_info), not from the
// local-time lookup FireOn uses:
//  - the fire belongs to its date and is the policy's instant: the earliest
//    instant whose wall clock shows the run time, or, if none does, the
//    transition that skipped it; a note exactly when DST moved or merged it;
//  - fires strictly increase from one local date to the next;
//  - NextFireAfter(fire(d)) == fire(d+1), LastFireAtOrBefore(fire(d)) ==
//    fire(d), and one second earlier they give fire(d) and fire(d-1).
// Set SCHEDULE_PROPERTY_STATS=1 to print how many checks ran.
#include <date/tz.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/schedule.h"

namespace common {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr date::days kDay{1};
// Ordinary (non-transition) dates: one every kOrdinaryStep days per zone.
constexpr int kOrdinaryStep = 41;

struct Expected {
  sys_seconds at;
  bool moved_or_merged = false;  // a gap or an overlap: a note is due
};

// The policy, from the zone's offset periods alone. `periods` are consecutive
// and cover the instants around `wall`.
std::optional<Expected> Oracle(const std::vector<date::sys_info>& periods,
                               date::local_seconds wall) {
  const sys_seconds as_utc{wall.time_since_epoch()};
  std::optional<Expected> best;
  int occurrences = 0;
  for (const date::sys_info& p : periods) {
    const sys_seconds at = as_utc - p.offset;
    if (at < p.begin || at >= p.end) continue;
    ++occurrences;
    if (!best || at < best->at) best = Expected{at, false};
  }
  if (best) {
    best->moved_or_merged = occurrences > 1;
    return best;
  }
  // No instant shows `wall`: the first transition whose jump skips it.
  for (std::size_t i = 0; i + 1 < periods.size(); ++i) {
    const sys_seconds b = periods[i].end;
    if (as_utc - periods[i].offset >= b && as_utc - periods[i + 1].offset < b) {
      return Expected{b, true};
    }
  }
  return std::nullopt;
}

bool SameFire(const Fire& a, const Fire& b) {
  return a.at == b.at && a.local_date == b.local_date && a.note == b.note;
}

TEST_CASE(
    "Every zone fires once per local date through its 2020-2035 clock "
    "changes") {
  const sys_seconds begin{date::sys_days{date::year{2020} / 1 / 1}};
  const sys_seconds end{date::sys_days{date::year{2036} / 1 / 1}};
  long checks = 0;
  long transitions = 0;
  int failures = 0;
  int zone_index = 0;

  for (const date::time_zone& zone : date::get_tzdb().zones) {
    ++zone_index;
    // Offset periods covering [begin - 3 days, end + 3 days).
    std::vector<date::sys_info> periods;
    for (sys_seconds t = begin - 3 * kDay;;) {
      periods.push_back(zone.get_info(t));
      if (periods.back().end >= end + 3 * kDay) break;
      t = periods.back().end;
    }
    // Local dates around every offset change, plus ordinary dates.
    std::set<date::local_days> dates;
    for (std::size_t i = 0; i + 1 < periods.size(); ++i) {
      const sys_seconds b = periods[i].end;
      if (b < begin || b >= end) continue;
      ++transitions;
      for (const date::local_days d :
           {LocalDateOf(&zone, b - seconds{1}), LocalDateOf(&zone, b)}) {
        dates.insert({d - kDay, d, d + kDay});
      }
    }
    for (date::local_days d = date::local_days{date::year{2020} / 1 / 1} +
                              date::days{zone_index % kOrdinaryStep};
         d < date::local_days{date::year{2036} / 1 / 1};
         d += date::days{kOrdinaryStep}) {
      dates.insert(d);
    }

    for (const date::local_days d : dates) {
      for (int minutes = 0; minutes < 24 * 60; minutes += 30) {
        const TimeOfDay time{minutes / 60, minutes % 60};
        const DailySchedule s{time, &zone};
        ++checks;
        auto fail = [&](const std::string& what) {
          if (++failures <= 20) {
            FAIL_CHECK(zone.name() << " " << FormatDate(d) << " "
                                   << FormatTimeOfDay(time) << ": " << what);
          }
        };

        const Fire fire = FireOn(s, d);
        const Fire before = FireOn(s, d - kDay);
        const Fire after = FireOn(s, d + kDay);
        const std::optional<Expected> expected =
            Oracle(periods, d + std::chrono::minutes{minutes});
        if (fire.local_date != d) {
          fail("fire belongs to " + FormatDate(fire.local_date));
          continue;
        }
        if (!expected) {
          fail("oracle found no instant");
          continue;
        }
        if (fire.at != expected->at) {
          fail("fires at " + FormatUtc(fire.at) + ", expected " +
               FormatUtc(expected->at));
          continue;
        }
        if (fire.note.empty() == expected->moved_or_merged) {
          fail("note \"" + fire.note + "\" but gap/overlap is " +
               (expected->moved_or_merged ? "true" : "false"));
          continue;
        }
        if (!(before.at < fire.at && fire.at < after.at)) {
          fail("fires not increasing: " + FormatUtc(before.at) + ", " +
               FormatUtc(fire.at) + ", " + FormatUtc(after.at));
          continue;
        }
        if (!SameFire(NextFireAfter(s, fire.at), after)) {
          fail("NextFireAfter(fire) is " +
               FormatUtc(NextFireAfter(s, fire.at).at) + ", expected " +
               FormatUtc(after.at));
          continue;
        }
        if (!SameFire(LastFireAtOrBefore(s, fire.at), fire)) {
          fail("LastFireAtOrBefore(fire) is " +
               FormatUtc(LastFireAtOrBefore(s, fire.at).at));
          continue;
        }
        const sys_seconds just_before = fire.at - seconds{1};
        if (!SameFire(NextFireAfter(s, just_before), fire)) {
          fail("NextFireAfter(fire - 1s) is " +
               FormatUtc(NextFireAfter(s, just_before).at));
          continue;
        }
        if (!SameFire(LastFireAtOrBefore(s, just_before), before)) {
          fail("LastFireAtOrBefore(fire - 1s) is " +
               FormatUtc(LastFireAtOrBefore(s, just_before).at) +
               ", expected " + FormatUtc(before.at));
          continue;
        }
      }
    }
  }

  CHECK(failures == 0);
  CHECK(transitions > 1000);  // the tz database really was walked
  if (std::getenv("SCHEDULE_PROPERTY_STATS") != nullptr) {
    MESSAGE(date::get_tzdb().zones.size()
            << " zones, " << transitions << " offset changes, " << checks
            << " (zone, date, time) checks");
  }
}

}  // namespace
}  // namespace common
