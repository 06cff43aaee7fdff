#include "pipeline/csv_reader.h"

#include <algorithm>
#include <cstring>

namespace pipeline {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool IsBlankChar(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Bytes that end an unquoted field (or are an error inside one): one table
// load per byte instead of four comparisons.
struct SpecialTable {
  bool is[256] = {};
  constexpr SpecialTable() {
    is[static_cast<unsigned char>(',')] = true;
    is[static_cast<unsigned char>('\n')] = true;
    is[static_cast<unsigned char>('\r')] = true;
    is[static_cast<unsigned char>('"')] = true;
  }
};
constexpr SpecialTable kSpecial;

}  // namespace

CsvReader::CsvReader(std::string_view data)
    : p_(data.data()), end_(data.data() + data.size()) {
  if (data.substr(0, kBom.size()) == kBom) p_ += kBom.size();
}

size_t CsvReader::EstimateRecords() const {
  return static_cast<size_t>(std::count(p_, end_, '\n')) + 1;
}

void CsvReader::SkipRestOfLine() {
  const void* nl = std::memchr(p_, '\n', static_cast<size_t>(end_ - p_));
  if (nl == nullptr) {
    p_ = end_;
  } else {
    p_ = static_cast<const char*>(nl) + 1;
    ++line_;
  }
}

bool CsvReader::Next(CsvRecord* record) {
  record->fields.clear();
  record->error = nullptr;
  // Skip blank lines.
  while (p_ < end_) {
    const char* q = p_;
    while (q < end_ && IsBlankChar(*q)) ++q;
    if (q == end_) {
      p_ = end_;
      return false;
    }
    if (*q != '\n') break;
    p_ = q + 1;
    ++line_;
  }
  if (p_ >= end_) return false;
  record->line = line_;

  while (true) {
    if (*p_ == '"') {
      if (!ReadQuoted(record)) return true;
    } else {
      const char* start = p_;
      const char* q = p_;
      while (q < end_) {
        if (!kSpecial.is[static_cast<unsigned char>(*q)]) {
          ++q;
          continue;
        }
        if (*q == '"') {
          record->error = "quote character inside an unquoted field";
          p_ = q;
          SkipRestOfLine();
          return true;
        }
        break;
      }
      record->fields.emplace_back(start, static_cast<size_t>(q - start));
      p_ = q;
    }
    // p_ is at a delimiter, a line end or the end of the data.
    if (p_ == end_) return true;
    const char c = *p_++;
    if (c == ',') {
      if (p_ == end_) {  // "a,b," : a final empty field
        record->fields.emplace_back();
        return true;
      }
      continue;
    }
    if (c == '\r' && p_ < end_ && *p_ == '\n') ++p_;
    ++line_;  // a bare CR also ends the line
    return true;
  }
}

bool CsvReader::ReadQuoted(CsvRecord* record) {
  const char* open_line_end = nullptr;  // for recovery from a missing quote
  const char* start = p_ + 1;
  const char* q = start;
  bool doubled = false;
  const char* close = nullptr;
  while (true) {
    const void* hit = std::memchr(q, '"', static_cast<size_t>(end_ - q));
    if (hit == nullptr) {
      // No closing quote anywhere: report it and resume after the line
      // holding the opening quote, which keeps later rows (they hold no
      // quotes at all) readable.
      record->error = "quoted field is never closed";
      const void* nl = std::memchr(p_, '\n', static_cast<size_t>(end_ - p_));
      open_line_end = nl ? static_cast<const char*>(nl) + 1 : end_;
      p_ = open_line_end;
      if (nl) ++line_;
      return false;
    }
    const char* quote = static_cast<const char*>(hit);
    if (quote + 1 < end_ && quote[1] == '"') {
      doubled = true;
      q = quote + 2;
      continue;
    }
    close = quote;
    break;
  }
  line_ += static_cast<uint32_t>(std::count(start, close, '\n'));
  std::string_view field(start, static_cast<size_t>(close - start));
  if (doubled) {
    std::string& out = unescaped_.emplace_back();
    out.reserve(field.size());
    for (size_t i = 0; i < field.size(); ++i) {
      out.push_back(field[i]);
      if (field[i] == '"') ++i;  // skip the second quote of a pair
    }
    field = out;
  }
  record->fields.push_back(field);
  p_ = close + 1;
  if (p_ < end_ && *p_ != ',' && *p_ != '\n' && *p_ != '\r') {
    record->error = "unexpected character after a closing quote";
    SkipRestOfLine();
    return false;
  }
  return true;
}

void AppendCsvField(std::string_view field, std::string* out) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(field);
    return;
  }
  out->push_back('"');
  for (char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace pipeline
