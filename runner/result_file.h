// The pipeline's result file, read with bounds: it is a report the runner
// forwards to the broker, written by code the runner does not trust, so it
// must not block the runner, exhaust its memory or produce a result the
// broker would refuse (maps over 256 entries, frames over
// schemas::kMaxFrameBytes), which would be resent forever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace runner {

struct RunMetrics {
  std::int64_t total_loans = -1;
  std::int64_t exceptions_count = -1;
  std::map<std::string, double> metrics;  // every numeric top-level field
  // The "inputs" object's string fields: the files the pipeline read, by
  // role; control characters escaped (common::Printable).
  std::map<std::string, std::string> inputs;
};

// A result file holds a few counts: 64 KiB is hundreds of times what the
// reference pipeline writes, and a quarter of a frame, so the result message
// (metrics, error, stderr tail) always fits in one.
inline constexpr std::size_t kMaxResultFileBytes = 64 * 1024;
// At most 64 numeric fields, each named by 1..64 printable ASCII bytes:
// under 5 KiB once encoded, far below the broker's 256-entry map limit.
inline constexpr std::size_t kMaxMetrics = 64;
inline constexpr std::size_t kMaxMetricKeyBytes = 64;
// Input files: at most 16, each path at most 4096 bytes (PATH_MAX).
inline constexpr std::size_t kMaxInputs = 16;
inline constexpr std::size_t kMaxInputPathBytes = 4096;

// Reads the pipeline's result file:
//   - missing: kNotFound ("no result file at <path>");
//   - not a JSON object: kCorrupt;
//   - a violation of the bounds: kInvalid, "result file invalid: <reason>".
// The bounds: a regular file (opened with O_NONBLOCK|O_NOFOLLOW, so a FIFO
// or a symlink is refused without waiting), at most kMaxResultFileBytes, at
// most kMaxMetrics numeric fields with keys of printable ASCII (no more
// than kMaxMetricKeyBytes), every value a finite double, and total_loans and
// exceptions_count whole numbers from 0 to INT64_MAX; an "inputs" object of
// at most kMaxInputs string fields with keys as metrics' and paths of at
// most kMaxInputPathBytes (empty ones, and fields that are not strings,
// are left out). Other non-numeric fields are ignored and do not count.
common::Result<RunMetrics> ReadResultFile(const std::string& path);

}  // namespace runner
