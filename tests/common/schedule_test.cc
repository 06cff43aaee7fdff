// Exact-value tests for the schedule math. Expected UTC instants are written by
// hand (checked against `zdump -v`), never computed by the code under test.
#include "common/schedule.h"

#include <date/date.h>
#include <doctest/doctest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace common {
namespace {

const date::time_zone* Zone(std::string_view name) {
  Result<const date::time_zone*> zone = FindZone(name);
  REQUIRE_MESSAGE(zone.ok(), zone.status().ToString());
  return zone.value();
}

date::local_days Date(std::string_view text) {
  Result<date::local_days> d = ParseDate(text);
  REQUIRE_MESSAGE(d.ok(), d.status().ToString());
  return d.value();
}

// Formats with the date library, not with the code under test.
std::string Iso(std::chrono::sys_seconds t) {
  return date::format("%FT%TZ", t);
}

std::chrono::sys_seconds Utc(const std::string& iso) {
  std::istringstream in(iso);
  std::chrono::sys_seconds t;
  in >> date::parse("%FT%TZ", t);
  REQUIRE_MESSAGE(!in.fail(), iso);
  return t;
}

DailySchedule Daily(std::string_view zone, int hour, int minute) {
  return DailySchedule{TimeOfDay{hour, minute}, Zone(zone)};
}

// The fire of `date` at hour:minute in zone, as "YYYY-MM-DDTHH:MM:SSZ".
std::string FireAt(std::string_view zone, std::string_view date, int hour,
                   int minute) {
  Fire fire = FireOn(Daily(zone, hour, minute), Date(date));
  CHECK(fire.local_date == Date(date));
  return Iso(fire.at);
}

std::string NoteOn(std::string_view zone, std::string_view date, int hour,
                   int minute) {
  return FireOn(Daily(zone, hour, minute), Date(date)).note;
}

TEST_CASE("A New York schedule follows the spring-forward day exactly") {
  // 2026-03-08: 02:00 EST (-5) jumps to 03:00 EDT (-4) at 07:00Z.
  SUBCASE("a run time inside the skipped hour fires at 03:00 EDT") {
    CHECK(FireAt("America/New_York", "2026-03-08", 2, 30) ==
          "2026-03-08T07:00:00Z");
    CHECK(NoteOn("America/New_York", "2026-03-08", 2, 30) ==
          "02:30 does not exist on 2026-03-08 (DST gap); fires at 03:00");
  }
  SUBCASE("02:00 itself is skipped") {
    CHECK(FireAt("America/New_York", "2026-03-08", 2, 0) ==
          "2026-03-08T07:00:00Z");
    CHECK(NoteOn("America/New_York", "2026-03-08", 2, 0) ==
          "02:00 does not exist on 2026-03-08 (DST gap); fires at 03:00");
  }
  SUBCASE("run times outside the skipped hour are ordinary") {
    CHECK(FireAt("America/New_York", "2026-03-08", 1, 30) ==
          "2026-03-08T06:30:00Z");
    CHECK(FireAt("America/New_York", "2026-03-08", 1, 59) ==
          "2026-03-08T06:59:00Z");
    CHECK(FireAt("America/New_York", "2026-03-08", 3, 0) ==
          "2026-03-08T07:00:00Z");
    CHECK(FireAt("America/New_York", "2026-03-08", 4, 0) ==
          "2026-03-08T08:00:00Z");
    CHECK(NoteOn("America/New_York", "2026-03-08", 3, 0) == "");
    CHECK(NoteOn("America/New_York", "2026-03-08", 1, 30) == "");
  }
  SUBCASE("the day before is EST and the day after is EDT") {
    CHECK(FireAt("America/New_York", "2026-03-07", 2, 30) ==
          "2026-03-07T07:30:00Z");
    CHECK(FireAt("America/New_York", "2026-03-09", 2, 30) ==
          "2026-03-09T06:30:00Z");
    CHECK(NoteOn("America/New_York", "2026-03-07", 2, 30) == "");
    CHECK(NoteOn("America/New_York", "2026-03-09", 2, 30) == "");
  }
}

TEST_CASE("A New York schedule fires once on the fall-back day") {
  // 2026-11-01: 02:00 EDT (-4) falls back to 01:00 EST (-5) at 06:00Z.
  SUBCASE("a run time in the repeated hour fires at its first occurrence") {
    CHECK(FireAt("America/New_York", "2026-11-01", 1, 30) ==
          "2026-11-01T05:30:00Z");
    CHECK(NoteOn("America/New_York", "2026-11-01", 1, 30) ==
          "01:30 occurs twice on 2026-11-01 (DST overlap); fires once, at "
          "the first");
    CHECK(FireAt("America/New_York", "2026-11-01", 1, 0) ==
          "2026-11-01T05:00:00Z");
  }
  SUBCASE("run times outside the repeated hour are ordinary") {
    CHECK(FireAt("America/New_York", "2026-11-01", 0, 30) ==
          "2026-11-01T04:30:00Z");
    CHECK(FireAt("America/New_York", "2026-11-01", 2, 0) ==
          "2026-11-01T07:00:00Z");
    CHECK(NoteOn("America/New_York", "2026-11-01", 2, 0) == "");
  }
  SUBCASE("the day before is EDT and the day after is EST") {
    CHECK(FireAt("America/New_York", "2026-10-31", 1, 30) ==
          "2026-10-31T05:30:00Z");
    CHECK(FireAt("America/New_York", "2026-11-02", 1, 30) ==
          "2026-11-02T06:30:00Z");
  }
  SUBCASE("the next fire after the overlap is a day later in EST") {
    DailySchedule s = Daily("America/New_York", 1, 30);
    Fire next = NextFireAfter(s, Utc("2026-11-01T05:30:00Z"));
    CHECK(next.local_date == Date("2026-11-02"));
    CHECK(Iso(next.at) == "2026-11-02T06:30:00Z");
    // The second 01:30 (06:30Z) is not a fire.
    Fire last = LastFireAtOrBefore(s, Utc("2026-11-01T06:30:00Z"));
    CHECK(last.local_date == Date("2026-11-01"));
    CHECK(Iso(last.at) == "2026-11-01T05:30:00Z");
  }
}

TEST_CASE("A Berlin schedule follows both DST changes exactly") {
  // 2026-03-29: 02:00 CET (+1) -> 03:00 CEST (+2) at 01:00Z.
  // 2026-10-25: 03:00 CEST (+2) -> 02:00 CET (+1) at 01:00Z.
  SUBCASE("spring forward") {
    CHECK(FireAt("Europe/Berlin", "2026-03-29", 2, 30) ==
          "2026-03-29T01:00:00Z");
    CHECK(NoteOn("Europe/Berlin", "2026-03-29", 2, 30) ==
          "02:30 does not exist on 2026-03-29 (DST gap); fires at 03:00");
    CHECK(FireAt("Europe/Berlin", "2026-03-29", 2, 0) ==
          "2026-03-29T01:00:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-03-29", 1, 59) ==
          "2026-03-29T00:59:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-03-29", 3, 0) ==
          "2026-03-29T01:00:00Z");
    CHECK(NoteOn("Europe/Berlin", "2026-03-29", 3, 0) == "");
    CHECK(FireAt("Europe/Berlin", "2026-03-29", 12, 0) ==
          "2026-03-29T10:00:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-03-28", 2, 30) ==
          "2026-03-28T01:30:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-03-30", 2, 30) ==
          "2026-03-30T00:30:00Z");
  }
  SUBCASE("fall back") {
    CHECK(FireAt("Europe/Berlin", "2026-10-25", 2, 30) ==
          "2026-10-25T00:30:00Z");
    CHECK(NoteOn("Europe/Berlin", "2026-10-25", 2, 30) ==
          "02:30 occurs twice on 2026-10-25 (DST overlap); fires once, at "
          "the first");
    CHECK(FireAt("Europe/Berlin", "2026-10-25", 3, 0) ==
          "2026-10-25T02:00:00Z");
    CHECK(NoteOn("Europe/Berlin", "2026-10-25", 3, 0) == "");
    CHECK(FireAt("Europe/Berlin", "2026-10-25", 1, 30) ==
          "2026-10-24T23:30:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-10-24", 2, 30) ==
          "2026-10-24T00:30:00Z");
    CHECK(FireAt("Europe/Berlin", "2026-10-26", 2, 30) ==
          "2026-10-26T01:30:00Z");
  }
}

TEST_CASE("A Lord Howe schedule follows the 30-minute DST shift") {
  // 2026-04-05: 02:00 +11 -> 01:30 +10:30 at 2026-04-04T15:00Z.
  // 2026-10-04: 02:00 +10:30 -> 02:30 +11 at 2026-10-03T15:30Z.
  SUBCASE("fall back repeats 01:30-02:00") {
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-05", 1, 45) ==
          "2026-04-04T14:45:00Z");
    CHECK(NoteOn("Australia/Lord_Howe", "2026-04-05", 1, 45) ==
          "01:45 occurs twice on 2026-04-05 (DST overlap); fires once, at "
          "the first");
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-05", 1, 30) ==
          "2026-04-04T14:30:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-05", 1, 15) ==
          "2026-04-04T14:15:00Z");
    CHECK(NoteOn("Australia/Lord_Howe", "2026-04-05", 1, 15) == "");
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-05", 2, 0) ==
          "2026-04-04T15:30:00Z");
    CHECK(NoteOn("Australia/Lord_Howe", "2026-04-05", 2, 0) == "");
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-04", 1, 45) ==
          "2026-04-03T14:45:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-04-06", 1, 45) ==
          "2026-04-05T15:15:00Z");
  }
  SUBCASE("spring forward skips 02:00-02:30") {
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-04", 2, 15) ==
          "2026-10-03T15:30:00Z");
    CHECK(NoteOn("Australia/Lord_Howe", "2026-10-04", 2, 15) ==
          "02:15 does not exist on 2026-10-04 (DST gap); fires at 02:30");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-04", 2, 0) ==
          "2026-10-03T15:30:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-04", 2, 30) ==
          "2026-10-03T15:30:00Z");
    CHECK(NoteOn("Australia/Lord_Howe", "2026-10-04", 2, 30) == "");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-04", 1, 45) ==
          "2026-10-03T15:15:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-04", 3, 0) ==
          "2026-10-03T16:00:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-03", 2, 15) ==
          "2026-10-02T15:45:00Z");
    CHECK(FireAt("Australia/Lord_Howe", "2026-10-05", 2, 15) ==
          "2026-10-04T15:15:00Z");
  }
}

TEST_CASE("Zones without DST fire at the same offset all year") {
  SUBCASE("Asia/Tokyo (+9) on the US and EU change days") {
    CHECK(FireAt("Asia/Tokyo", "2026-03-08", 2, 30) == "2026-03-07T17:30:00Z");
    CHECK(FireAt("Asia/Tokyo", "2026-03-29", 2, 30) == "2026-03-28T17:30:00Z");
    CHECK(FireAt("Asia/Tokyo", "2026-11-01", 1, 30) == "2026-10-31T16:30:00Z");
    CHECK(NoteOn("Asia/Tokyo", "2026-11-01", 1, 30) == "");
  }
  SUBCASE("Asia/Kolkata (+5:30)") {
    CHECK(FireAt("Asia/Kolkata", "2026-03-29", 2, 30) ==
          "2026-03-28T21:00:00Z");
    CHECK(FireAt("Asia/Kolkata", "2026-10-25", 2, 30) ==
          "2026-10-24T21:00:00Z");
    CHECK(NoteOn("Asia/Kolkata", "2026-10-25", 2, 30) == "");
  }
  SUBCASE("UTC") {
    CHECK(FireAt("UTC", "2026-11-29", 2, 0) == "2026-11-29T02:00:00Z");
  }
}

TEST_CASE("Zones that change the clock at midnight keep one fire per date") {
  SUBCASE("Havana skips 00:00-01:00 on 2026-03-08") {
    CHECK(FireAt("America/Havana", "2026-03-08", 0, 30) ==
          "2026-03-08T05:00:00Z");
    CHECK(NoteOn("America/Havana", "2026-03-08", 0, 30) ==
          "00:30 does not exist on 2026-03-08 (DST gap); fires at 01:00");
    CHECK(FireAt("America/Havana", "2026-03-08", 0, 0) ==
          "2026-03-08T05:00:00Z");
    CHECK(FireAt("America/Havana", "2026-03-07", 23, 30) ==
          "2026-03-08T04:30:00Z");
  }
  SUBCASE("Havana repeats 00:00-01:00 on 2026-11-01") {
    CHECK(FireAt("America/Havana", "2026-11-01", 0, 30) ==
          "2026-11-01T04:30:00Z");
    CHECK(NoteOn("America/Havana", "2026-11-01", 0, 30) ==
          "00:30 occurs twice on 2026-11-01 (DST overlap); fires once, at "
          "the first");
  }
  SUBCASE("Santiago repeats 23:00-24:00 of Saturday 2026-04-04") {
    CHECK(FireAt("America/Santiago", "2026-04-04", 23, 30) ==
          "2026-04-05T02:30:00Z");
    CHECK(FireAt("America/Santiago", "2026-04-05", 0, 0) ==
          "2026-04-05T04:00:00Z");
    CHECK(NoteOn("America/Santiago", "2026-04-05", 0, 0) == "");
  }
  SUBCASE("Santiago skips 00:00-01:00 on 2026-09-06") {
    CHECK(FireAt("America/Santiago", "2026-09-06", 0, 0) ==
          "2026-09-06T04:00:00Z");
    CHECK(FireAt("America/Santiago", "2026-09-05", 23, 30) ==
          "2026-09-06T03:30:00Z");
  }
  SUBCASE("Nuuk skips 23:00-24:00, so the fire lands on the next date") {
    // 2026-03-28 23:00 -02 jumps to 2026-03-29 00:00 -01 at 01:00Z.
    CHECK(FireAt("America/Nuuk", "2026-03-28", 23, 30) ==
          "2026-03-29T01:00:00Z");
    CHECK(NoteOn("America/Nuuk", "2026-03-28", 23, 30) ==
          "23:30 does not exist on 2026-03-28 (DST gap); fires at 00:00 on "
          "2026-03-29");
    DailySchedule s = Daily("America/Nuuk", 23, 30);
    Fire last = LastFireAtOrBefore(s, Utc("2026-03-29T01:00:00Z"));
    CHECK(last.local_date == Date("2026-03-28"));
    Fire next = NextFireAfter(s, Utc("2026-03-29T01:00:00Z"));
    CHECK(next.local_date == Date("2026-03-29"));
    CHECK(Iso(next.at) == "2026-03-30T00:30:00Z");
  }
}

TEST_CASE("A date the zone skipped entirely merges into the next date") {
  // Pacific/Apia jumped from 2011-12-29 24:00 (-10) to 2011-12-31 00:00 (+14)
  // at 2011-12-30T10:00Z; 2011-12-30 never happened there.
  SUBCASE("a midday run time fires at the jump") {
    CHECK(FireAt("Pacific/Apia", "2011-12-30", 12, 0) ==
          "2011-12-30T10:00:00Z");
    CHECK(NoteOn("Pacific/Apia", "2011-12-30", 12, 0) ==
          "12:00 does not exist on 2011-12-30 (time zone change); fires at "
          "00:00 on 2011-12-31");
    CHECK(FireAt("Pacific/Apia", "2011-12-31", 12, 0) ==
          "2011-12-30T22:00:00Z");
  }
  SUBCASE("at 00:00 the skipped date's fire is the next date's fire") {
    DailySchedule s = Daily("Pacific/Apia", 0, 0);
    Fire next = NextFireAfter(s, Utc("2011-12-29T10:00:00Z"));
    CHECK(next.local_date == Date("2011-12-31"));
    CHECK(Iso(next.at) == "2011-12-30T10:00:00Z");
    CHECK(next.note == "");
    Fire last = LastFireAtOrBefore(s, Utc("2011-12-30T10:00:00Z"));
    CHECK(last.local_date == Date("2011-12-31"));
    std::vector<Fire> fires = FiresFrom(s, Date("2011-12-29"), 3);
    REQUIRE(fires.size() == 3);
    CHECK(fires[0].local_date == Date("2011-12-29"));
    CHECK(fires[1].local_date == Date("2011-12-31"));
    CHECK(fires[2].local_date == Date("2012-01-01"));
    CHECK(Iso(fires[2].at) == "2011-12-31T10:00:00Z");
  }
}

TEST_CASE("Next and last fire are exact at and around a fire instant") {
  DailySchedule s = Daily("Europe/Berlin", 2, 0);
  // 2026-06-10 02:00 CEST = 00:00Z.
  const std::chrono::sys_seconds fire = Utc("2026-06-10T00:00:00Z");
  SUBCASE("at the fire instant, last is that fire and next is the next day") {
    Fire last = LastFireAtOrBefore(s, fire);
    CHECK(last.local_date == Date("2026-06-10"));
    CHECK(Iso(last.at) == "2026-06-10T00:00:00Z");
    Fire next = NextFireAfter(s, fire);
    CHECK(next.local_date == Date("2026-06-11"));
    CHECK(Iso(next.at) == "2026-06-11T00:00:00Z");
  }
  SUBCASE("one second before, next is this fire and last is the day before") {
    Fire next = NextFireAfter(s, fire - std::chrono::seconds{1});
    CHECK(Iso(next.at) == "2026-06-10T00:00:00Z");
    Fire last = LastFireAtOrBefore(s, fire - std::chrono::seconds{1});
    CHECK(last.local_date == Date("2026-06-09"));
    CHECK(Iso(last.at) == "2026-06-09T00:00:00Z");
  }
  SUBCASE("one second after, last is this fire") {
    Fire last = LastFireAtOrBefore(s, fire + std::chrono::seconds{1});
    CHECK(Iso(last.at) == "2026-06-10T00:00:00Z");
    Fire next = NextFireAfter(s, fire + std::chrono::seconds{1});
    CHECK(Iso(next.at) == "2026-06-11T00:00:00Z");
  }
  SUBCASE("across the New York spring-forward gap") {
    DailySchedule ny = Daily("America/New_York", 2, 30);
    Fire next = NextFireAfter(ny, Utc("2026-03-07T07:30:00Z"));
    CHECK(next.local_date == Date("2026-03-08"));
    CHECK(Iso(next.at) == "2026-03-08T07:00:00Z");
    CHECK(next.note != "");
    Fire after = NextFireAfter(ny, next.at);
    CHECK(Iso(after.at) == "2026-03-09T06:30:00Z");
    Fire last = LastFireAtOrBefore(ny, Utc("2026-03-09T06:29:59Z"));
    CHECK(last.local_date == Date("2026-03-08"));
  }
  SUBCASE("a UTC instant on the previous local date") {
    // 2026-06-10T23:30Z is 2026-06-11 08:30 in Tokyo: today's 09:00 is next.
    DailySchedule tokyo = Daily("Asia/Tokyo", 9, 0);
    Fire next = NextFireAfter(tokyo, Utc("2026-06-10T23:30:00Z"));
    CHECK(next.local_date == Date("2026-06-11"));
    CHECK(Iso(next.at) == "2026-06-11T00:00:00Z");
  }
}

TEST_CASE("FiresFrom lists one fire per local date starting at a date") {
  DailySchedule s = Daily("America/New_York", 2, 30);
  std::vector<Fire> fires = FiresFrom(s, Date("2026-03-07"), 3);
  REQUIRE(fires.size() == 3);
  CHECK(fires[0].local_date == Date("2026-03-07"));
  CHECK(Iso(fires[0].at) == "2026-03-07T07:30:00Z");
  CHECK(Iso(fires[1].at) == "2026-03-08T07:00:00Z");
  CHECK(Iso(fires[2].at) == "2026-03-09T06:30:00Z");
  CHECK(FiresFrom(s, Date("2026-03-07"), 0).empty());
  CHECK(FiresFrom(s, Date("2026-03-07"), -1).empty());
}

TEST_CASE("The purchase date is the first given weekday after the run date") {
  // 2026-11-30 is a Monday.
  SUBCASE("a Monday gives the next day") {
    CHECK(PurchaseDate(Date("2026-11-30")) == Date("2026-12-01"));
  }
  SUBCASE("a Tuesday gives the Tuesday a week later") {
    CHECK(PurchaseDate(Date("2026-12-01")) == Date("2026-12-08"));
  }
  SUBCASE("a Sunday gives the Tuesday two days later") {
    CHECK(PurchaseDate(Date("2026-11-29")) == Date("2026-12-01"));
  }
  SUBCASE("a Wednesday crosses a year end") {
    CHECK(PurchaseDate(Date("2025-12-31")) == Date("2026-01-06"));
  }
  SUBCASE("a custom weekday") {
    CHECK(PurchaseDate(Date("2026-11-30"), date::Friday) == Date("2026-12-04"));
    CHECK(PurchaseDate(Date("2026-12-04"), date::Friday) == Date("2026-12-11"));
    CHECK(PurchaseDate(Date("2026-11-28"), date::Sunday) == Date("2026-11-29"));
  }
}

TEST_CASE("Run times parse as HH:MM and errors name the value") {
  SUBCASE("valid") {
    Result<TimeOfDay> t = ParseTimeOfDay("02:30");
    REQUIRE(t.ok());
    CHECK(t.value() == TimeOfDay{2, 30});
    CHECK(ParseTimeOfDay("00:00").value() == TimeOfDay{0, 0});
    CHECK(ParseTimeOfDay("23:59").value() == TimeOfDay{23, 59});
    CHECK(FormatTimeOfDay(TimeOfDay{}) == "02:00");
    CHECK(FormatTimeOfDay(TimeOfDay{23, 5}) == "23:05");
  }
  SUBCASE("invalid") {
    for (std::string_view bad :
         {"25:00", "24:00", "12:60", "2:00", "02:0", "0200", "02-00", "",
          " 02:00", "02:00 ", "ab:cd", "+1:00", "02:00:00"}) {
      Result<TimeOfDay> t = ParseTimeOfDay(bad);
      CAPTURE(bad);
      REQUIRE_FALSE(t.ok());
      CHECK(t.status().code() == Code::kInvalid);
      CHECK(t.status().message() ==
            "run time \"" + std::string(bad) + "\" is not HH:MM (00:00-23:59)");
    }
  }
}

TEST_CASE("Time zones are found by name and errors name the value") {
  CHECK(FindZone("UTC").ok());
  REQUIRE(FindZone("Europe/Berlin").ok());
  CHECK(FindZone("Europe/Berlin").value()->name() == "Europe/Berlin");
  for (std::string_view bad : {"Mars/Base", "", "europe/berlin", "../UTC"}) {
    Result<const date::time_zone*> zone = FindZone(bad);
    CAPTURE(bad);
    REQUIRE_FALSE(zone.ok());
    CHECK(zone.status().code() == Code::kInvalid);
    CHECK(zone.status().message() ==
          "unknown time zone \"" + std::string(bad) + "\"");
  }
}

TEST_CASE("Dates parse as YYYY-MM-DD and errors name the value") {
  SUBCASE("valid") {
    CHECK(ParseDate("2026-11-29").value() ==
          date::local_days{date::year{2026} / 11 / 29});
    CHECK(ParseDate("2024-02-29").ok());
    CHECK(FormatDate(Date("2026-01-05")) == "2026-01-05");
    CHECK(FormatUtc(Utc("2026-03-08T07:00:05Z")) == "2026-03-08T07:00:05Z");
  }
  SUBCASE("invalid") {
    for (std::string_view bad :
         {"2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-1-5",
          "26-11-29", "2026/11/29", "", "2026-11-29x", "tomorrow"}) {
      Result<date::local_days> d = ParseDate(bad);
      CAPTURE(bad);
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().code() == Code::kInvalid);
      CHECK(d.status().message() ==
            "date \"" + std::string(bad) + "\" is not a valid YYYY-MM-DD date");
    }
  }
}

TEST_CASE("Weekdays parse case-insensitively and errors name the value") {
  CHECK(ParseWeekday("tuesday").value() == date::Tuesday);
  CHECK(ParseWeekday("Tue").value() == date::Tuesday);
  CHECK(ParseWeekday("TUESDAY").value() == date::Tuesday);
  CHECK(ParseWeekday("sun").value() == date::Sunday);
  CHECK(ParseWeekday("Saturday").value() == date::Saturday);
  for (std::string_view bad : {"Funday", "", "tues", "t", "Tuesday "}) {
    Result<date::weekday> w = ParseWeekday(bad);
    CAPTURE(bad);
    REQUIRE_FALSE(w.ok());
    CHECK(w.status().code() == Code::kInvalid);
    CHECK(w.status().message() ==
          "weekday \"" + std::string(bad) +
              "\" is not a day name like Tuesday or Tue");
  }
}

}  // namespace
}  // namespace common
