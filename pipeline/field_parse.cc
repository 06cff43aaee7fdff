#include "pipeline/field_parse.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace pipeline {

std::string_view Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool ParseDouble(std::string_view s, double* out) {
  s = Trim(s);
  if (s.empty()) return false;
  if (s[0] == '+') s.remove_prefix(1);  // from_chars rejects a plus sign
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out,
                                         std::chars_format::fixed);
  return ec == std::errc() && end == s.data() + s.size() &&
         std::isfinite(*out);  // "nan" and "inf" would pass any range check
}

bool ParseInt(std::string_view s, int* out) {
  s = Trim(s);
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool ParseCents(std::string_view s, int64_t* out) {
  s = Trim(s);
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 16) return false;
  int64_t whole = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] != '.'; ++i) {
    const unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    whole = whole * 10 + d;
  }
  int64_t frac = 0;
  if (i < s.size()) {  // at the '.'
    const size_t decimals = s.size() - i - 1;
    if (decimals == 0 || decimals > 2 || i == 0) return false;
    for (size_t j = i + 1; j < s.size(); ++j) {
      const unsigned d = static_cast<unsigned char>(s[j]) - '0';
      if (d > 9) return false;
      frac = frac * 10 + d;
    }
    if (decimals == 1) frac *= 10;
  }
  const int64_t cents = whole * 100 + frac;
  *out = negative ? -cents : cents;
  return true;
}

int FindColumn(const std::vector<std::string_view>& header,
               std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string_view h = Trim(header[i]);
    if (h.size() != name.size()) continue;
    bool same = true;
    for (size_t j = 0; j < h.size() && same; ++j) {
      char c = h[j];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == name[j];
    }
    if (same) return static_cast<int>(i);
  }
  return -1;
}

char* WriteInt(char* out, int64_t v) {
  return std::to_chars(out, out + 24, v).ptr;
}

char* WriteCents(char* out, int64_t cents) {
  if (cents < 0) {
    *out++ = '-';
    cents = -cents;
  }
  out = std::to_chars(out, out + 24, cents / 100).ptr;
  const int64_t frac = cents % 100;
  out[0] = '.';
  out[1] = static_cast<char>('0' + frac / 10);
  out[2] = static_cast<char>('0' + frac % 10);
  return out + 3;
}

char* WriteMilli(char* out, int64_t milli) {
  if (milli < 0) {
    *out++ = '-';
    milli = -milli;
  }
  out = std::to_chars(out, out + 24, milli / 1000).ptr;
  const int64_t frac = milli % 1000;
  out[0] = '.';
  out[1] = static_cast<char>('0' + frac / 100);
  out[2] = static_cast<char>('0' + frac / 10 % 10);
  out[3] = static_cast<char>('0' + frac % 10);
  return out + 4;
}

char* WriteFixed(char* out, double v, int precision) {
  const auto r =
      std::to_chars(out, out + 32, v, std::chars_format::fixed, precision);
  if (r.ec == std::errc()) return r.ptr;
  return std::to_chars(out, out + 32, v).ptr;  // huge: shortest form fits
}

char* WriteCsvField(char* out, std::string_view field) {
  bool plain = true;
  for (char c : field) {
    if (c == ',' || c == '"' || c == '\n' || c == '\r') {
      plain = false;
      break;
    }
  }
  if (plain) {
    std::memcpy(out, field.data(), field.size());
    return out + field.size();
  }
  *out++ = '"';
  for (char c : field) {
    if (c == '"') *out++ = '"';
    *out++ = c;
  }
  *out++ = '"';
  return out;
}

}  // namespace pipeline
