// Howard Hinnant's days_from_civil / civil_from_days algorithms.
#include "pipeline/civil_date.h"

#include <ctime>

namespace pipeline {
namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Parses exactly `n` ASCII digits; -1 if any is not a digit.
int Digits(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    const unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return -1;
    v = v * 10 + static_cast<int>(d);
  }
  return v;
}

std::optional<CivilDate> Checked(int y, int m, int d) {
  if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 ||
      d > DaysInMonth(y, m)) {
    return std::nullopt;
  }
  return CivilDate::FromYmd(y, m, d);
}

}  // namespace

CivilDate CivilDate::FromYmd(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy =
      (153 * static_cast<unsigned>(m > 2 ? m - 3 : m + 9) + 2) / 5 +
      static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return CivilDate{era * 146097 + static_cast<int32_t>(doe) - 719468};
}

void CivilDate::ToYmd(int* year, int* month, int* day) const {
  const int z = days + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(yoe) + era * 400 + (m <= 2);
  *month = static_cast<int>(m);
  *day = static_cast<int>(d);
}

std::optional<CivilDate> CivilDate::Parse(std::string_view s) {
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    return Checked(Digits(s, 0, 4), Digits(s, 5, 2), Digits(s, 8, 2));
  }
  if (s.size() == 10 && s[2] == '/' && s[5] == '/') {
    return Checked(Digits(s, 6, 4), Digits(s, 0, 2), Digits(s, 3, 2));
  }
  return std::nullopt;
}

std::optional<CivilDate> CivilDate::ParseCompact(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  return Checked(Digits(s, 0, 4), Digits(s, 4, 2), Digits(s, 6, 2));
}

CivilDate CivilDate::Today() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return FromYmd(local.tm_year + 1900, local.tm_mon + 1, local.tm_mday);
}

CivilDate CivilDate::AddMonths(int months) const {
  int y, m, d;
  ToYmd(&y, &m, &d);
  int total = y * 12 + (m - 1) + months;
  y = total / 12;
  m = total % 12 + 1;
  if (d > DaysInMonth(y, m)) d = DaysInMonth(y, m);
  return FromYmd(y, m, d);
}

char* CivilDate::WriteIso(char* out) const {
  int y, m, d;
  ToYmd(&y, &m, &d);
  out[0] = static_cast<char>('0' + y / 1000 % 10);
  out[1] = static_cast<char>('0' + y / 100 % 10);
  out[2] = static_cast<char>('0' + y / 10 % 10);
  out[3] = static_cast<char>('0' + y % 10);
  out[4] = '-';
  out[5] = static_cast<char>('0' + m / 10);
  out[6] = static_cast<char>('0' + m % 10);
  out[7] = '-';
  out[8] = static_cast<char>('0' + d / 10);
  out[9] = static_cast<char>('0' + d % 10);
  return out + 10;
}

std::string CivilDate::Iso() const {
  char buf[10];
  WriteIso(buf);
  return std::string(buf, 10);
}

std::string CivilDate::Compact() const {
  std::string iso = Iso();
  return iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2);
}

}  // namespace pipeline
