// Calendar dates as days since 1970-01-01, with the parsing and formatting the
// loan tape needs (YYYY-MM-DD, YYYYMMDD, MM/DD/YYYY). No time zones involved.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pipeline {

// A proleptic Gregorian date; `days` counts from 1970-01-01.
struct CivilDate {
  int32_t days = 0;

  static CivilDate FromYmd(int year, int month, int day);
  // "2026-12-01" or "12/01/2026"; nullopt if malformed or not a real date.
  static std::optional<CivilDate> Parse(std::string_view text);
  // "20261201"; nullopt if malformed or not a real date.
  static std::optional<CivilDate> ParseCompact(std::string_view text);
  // Today's date in the local time zone.
  static CivilDate Today();

  void ToYmd(int* year, int* month, int* day) const;
  // Same day of month `months` later, clamped to the month's last day.
  CivilDate AddMonths(int months) const;
  std::string Iso() const;      // "2026-12-01"
  std::string Compact() const;  // "20261201"
  // Writes "YYYY-MM-DD" (10 chars) to out; returns the end pointer.
  char* WriteIso(char* out) const;

  auto operator<=>(const CivilDate&) const = default;
};

}  // namespace pipeline
