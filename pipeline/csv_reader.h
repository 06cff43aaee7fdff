// Streaming RFC 4180 CSV reader over an in-memory buffer: quoted fields with
// commas and newlines, doubled quotes, a UTF-8 BOM, CRLF and blank lines.
// Fields are string_views into the buffer, so reading allocates nothing per
// field except for the rare quoted field that contains doubled quotes.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

struct CsvRecord {
  std::vector<std::string_view> fields;
  uint32_t line = 0;  // 1-based physical line where the record starts
  // Non-null when the record could not be parsed; `fields` is then partial.
  const char* error = nullptr;
};

class CsvReader {
 public:
  // `data` must outlive the reader and every view it hands out.
  explicit CsvReader(std::string_view data);
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next record, skipping blank (whitespace-only) lines. Returns
  // false at the end of the data. A malformed record comes back with `error`
  // set; reading resumes on the line after it, so one bad row never hides
  // the rows that follow. Views stay valid while the reader lives.
  bool Next(CsvRecord* record);

  // A rough record count for reserving memory (newlines in the data).
  size_t EstimateRecords() const;

 private:
  // Returns false (with record->error set) on a quoting error.
  bool ReadQuoted(CsvRecord* record);
  void SkipRestOfLine();

  const char* p_;
  const char* end_;
  uint32_t line_ = 1;
  std::deque<std::string> unescaped_;  // stable storage for "" fields
};

// Appends `field` to `out`, quoted if it holds a comma, quote or newline.
void AppendCsvField(std::string_view field, std::string* out);

}  // namespace pipeline
