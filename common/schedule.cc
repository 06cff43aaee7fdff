#include "common/schedule.h"

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <exception>
#include <utility>

namespace common {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr date::days kDay{1};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses exactly text.size() decimal digits; REQUIRES: all digits.
int Digits(std::string_view text) {
  int v = 0;
  for (char c : text) v = v * 10 + (c - '0');
  return v;
}

bool AllDigits(std::string_view text) {
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return !text.empty();
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// "03:00", or "03:00:30" for the odd historical offsets with seconds.
std::string FormatWallTime(seconds since_midnight) {
  const auto h = std::chrono::floor<hours>(since_midnight);
  const auto m = std::chrono::floor<minutes>(since_midnight - h);
  const auto sec = since_midnight - h - m;
  if (sec.count() == 0) return fmt::format("{:02}:{:02}", h.count(), m.count());
  return fmt::format("{:02}:{:02}:{:02}", h.count(), m.count(), sec.count());
}

// A transition that is a DST start or end (as opposed to a change of the
// zone's standard offset). The OS tzdb reader reports only whether DST is in
// effect (save is 0 or 1 minute), so compare "in DST or not".
bool IsDstChange(const date::local_info& info) {
  return (info.first.save.count() != 0) != (info.second.save.count() != 0);
}

sys_seconds AsSys(date::local_seconds t) {
  return sys_seconds{t.time_since_epoch()};
}

}  // namespace

Result<TimeOfDay> ParseTimeOfDay(std::string_view text) {
  if (text.size() == 5 && text[2] == ':' && AllDigits(text.substr(0, 2)) &&
      AllDigits(text.substr(3, 2))) {
    TimeOfDay t{Digits(text.substr(0, 2)), Digits(text.substr(3, 2))};
    if (t.hour <= 23 && t.minute <= 59) return t;
  }
  return Status::Error(
      Code::kInvalid,
      fmt::format("run time \"{}\" is not HH:MM (00:00-23:59)", text));
}

std::string FormatTimeOfDay(TimeOfDay t) {
  return fmt::format("{:02}:{:02}", t.hour, t.minute);
}

Result<const date::time_zone*> FindZone(std::string_view name) {
  if (!name.empty()) {
    try {
      return date::locate_zone(name);
    } catch (const std::exception&) {
      // date throws std::runtime_error for an unknown name; fall through.
    }
  }
  return Status::Error(Code::kInvalid,
                       fmt::format("unknown time zone \"{}\"", name));
}

Result<date::local_days> ParseDate(std::string_view text) {
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' &&
      AllDigits(text.substr(0, 4)) && AllDigits(text.substr(5, 2)) &&
      AllDigits(text.substr(8, 2))) {
    const date::year_month_day ymd{
        date::year{Digits(text.substr(0, 4))},
        date::month{static_cast<unsigned>(Digits(text.substr(5, 2)))},
        date::day{static_cast<unsigned>(Digits(text.substr(8, 2)))}};
    if (ymd.ok()) return date::local_days{ymd};
  }
  return Status::Error(
      Code::kInvalid,
      fmt::format("date \"{}\" is not a valid YYYY-MM-DD date", text));
}

std::string FormatDate(date::local_days d) {
  const date::year_month_day ymd{d};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::string FormatUtc(sys_seconds t) {
  const auto day = std::chrono::floor<date::days>(t);
  const date::hh_mm_ss<seconds> hms{t - day};
  return fmt::format("{}T{:02}:{:02}:{:02}Z",
                     FormatDate(date::local_days{day.time_since_epoch()}),
                     hms.hours().count(), hms.minutes().count(),
                     hms.seconds().count());
}

Result<date::weekday> ParseWeekday(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "sunday",   "monday", "tuesday", "wednesday",
      "thursday", "friday", "saturday"};
  for (unsigned i = 0; i < kNames.size(); ++i) {
    if (EqualsIgnoreCase(text, kNames[i]) ||
        EqualsIgnoreCase(text, kNames[i].substr(0, 3))) {
      return date::weekday{i};
    }
  }
  return Status::Error(
      Code::kInvalid,
      fmt::format("weekday \"{}\" is not a day name like Tuesday or Tue",
                  text));
}

date::local_days LocalDateOf(const date::time_zone* zone, sys_seconds t) {
  assert(zone != nullptr);
  return std::chrono::floor<date::days>(zone->to_local(t));
}

Fire FireOn(const DailySchedule& s, date::local_days local_date) {
  assert(s.zone != nullptr);
  assert(s.time.hour >= 0 && s.time.hour <= 23);
  assert(s.time.minute >= 0 && s.time.minute <= 59);
  const date::local_seconds wall =
      local_date + hours{s.time.hour} + minutes{s.time.minute};
  const date::local_info info = s.zone->get_info(wall);
  Fire fire{local_date, {}, {}};
  switch (info.result) {
    case date::local_info::unique:
      fire.at = AsSys(wall) - info.first.offset;
      break;
    case date::local_info::ambiguous:
      // first is the period before the fall-back: the earlier occurrence.
      fire.at = AsSys(wall) - info.first.offset;
      fire.note =
          fmt::format("{} occurs twice on {} ({}); fires once, at the first",
                      FormatTimeOfDay(s.time), FormatDate(local_date),
                      IsDstChange(info) ? "DST overlap" : "time zone change");
      break;
    case date::local_info::nonexistent: {
      // The first valid instant after the missing wall time: the transition.
      fire.at = info.first.end;
      const date::local_seconds shown = s.zone->to_local(fire.at);
      const date::local_days shown_date = std::chrono::floor<date::days>(shown);
      fire.note = fmt::format(
          "{} does not exist on {} ({}); fires at {}{}",
          FormatTimeOfDay(s.time), FormatDate(local_date),
          IsDstChange(info) ? "DST gap" : "time zone change",
          FormatWallTime(shown - shown_date),
          shown_date == local_date ? "" : " on " + FormatDate(shown_date));
      break;
    }
  }
  return fire;
}

// Fire instants are non-decreasing in the local date, and two dates share an
// instant only when the earlier date was skipped entirely (its fire is then a
// gap fire). Both searches start at the local date of t and walk; in practice
// they look at dates d-1..d+1.
Fire NextFireAfter(const DailySchedule& s, sys_seconds t) {
  date::local_days d = LocalDateOf(s.zone, t);
  while (FireOn(s, d - kDay).at > t) d -= kDay;
  Fire fire = FireOn(s, d);
  while (fire.at <= t) {
    d += kDay;
    fire = FireOn(s, d);
  }
  // A skipped date's fire coincides with the next date's: report the latter.
  while (!fire.note.empty()) {
    Fire next = FireOn(s, d + kDay);
    if (next.at != fire.at) break;
    fire = std::move(next);
    d += kDay;
  }
  return fire;
}

Fire LastFireAtOrBefore(const DailySchedule& s, sys_seconds t) {
  date::local_days d = LocalDateOf(s.zone, t);
  Fire fire = FireOn(s, d);
  while (fire.at > t) {
    d -= kDay;
    fire = FireOn(s, d);
  }
  for (;;) {
    Fire next = FireOn(s, d + kDay);
    if (next.at > t) break;
    fire = std::move(next);
    d += kDay;
  }
  return fire;
}

std::vector<Fire> FiresFrom(const DailySchedule& s, date::local_days from,
                            int count) {
  std::vector<Fire> fires;
  if (count <= 0) return fires;
  fires.reserve(static_cast<std::size_t>(count));
  Fire fire = FireOn(s, from);
  for (date::local_days d = from; static_cast<int>(fires.size()) < count;
       d += kDay) {
    Fire next = FireOn(s, d + kDay);
    // Skip a skipped date's fire that merges into the next date's.
    if (next.at != fire.at) fires.push_back(std::move(fire));
    fire = std::move(next);
  }
  return fires;
}

date::local_days PurchaseDate(date::local_days scheduled_local_date,
                              date::weekday day) {
  assert(day.ok());
  const date::local_days after = scheduled_local_date + kDay;
  return after + (day - date::weekday{after});
}

}  // namespace common
