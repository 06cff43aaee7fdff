// Finds the newest dated input file in a folder: names like
// loan_tape_20261201.csv, described by a pattern with one "{date}" standing
// for YYYYMMDD, dated on or before an as-of date.
#pragma once

#include <optional>
#include <string>

#include "pipeline/civil_date.h"
#include "pipeline/status.h"

namespace pipeline {

struct DatedFile {
  std::string path;
  CivilDate date;
};

inline constexpr const char* kDatePlaceholder = "{date}";

// kUsage unless `pattern` holds "{date}" exactly once and no '/'.
Status ValidatePattern(const std::string& pattern);

// The regular file in `dir` matching `pattern` with the latest date on or
// before `as_of`, or nullopt if there is none. Names whose date part is not a
// real YYYYMMDD date are ignored. A missing `dir` is kTempFail (it may be
// about to appear); an unreadable one is kIoError.
Result<std::optional<DatedFile>> FindNewestDated(const std::string& dir,
                                                 const std::string& pattern,
                                                 CivilDate as_of);

}  // namespace pipeline
