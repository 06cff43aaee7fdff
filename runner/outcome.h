// The rules that turn how a pipeline ended into the result the broker
// judges: exit 0 succeeds, exit 75 (EX_TEMPFAIL) is transient, any other exit
// fails, a signal or a stop of ours (timeout, cancel, shutdown) is transient.
// Pure, so every rule has a test and none hides in the runner's bookkeeping.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "runner/workspace.h"

namespace runner {

inline constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: the pipeline says "retry me"

struct Verdict {
  std::string_view outcome;  // one of schemas::outcome::kAll
  std::int32_t exit_code = -1;  // -1 unless the pipeline exited
  std::string error;            // empty on success
  RunMetrics metrics;           // from the result file; -1s when it had none
  std::string warning;          // for the log: a success without a usable result file
};

// `wait_status` is as waitpid reports it; `stop_reason` is non-empty when the
// runner signalled the run (and says why); `result_file` is the pipeline's
// result file as ReadResultFile read it. A missing or unparsable result file
// never fails a run: the metrics are a report, the exit status is the
// verdict (a success only warns). A result file outside the bounds
// (kInvalid, "result file invalid: ...") fails a run that exited on its own,
// whatever its exit status, with that reason in the error; a run killed by a
// signal or stopped by us stays transient.
Verdict Classify(int wait_status, std::string_view stop_reason,
                 const common::Result<RunMetrics>& result_file);

// A run under a memory limit that did not succeed and whose log says memory
// ran out (the shim's line after a cgroup OOM kill, or what a program
// prints when an allocation fails under RLIMIT_AS: "MemoryError",
// "std::bad_alloc", "Cannot allocate memory", "out of memory") fails with
// "out of memory (limit N MiB)": not retried, since the same input needs
// the same memory. Unchanged otherwise.
void ApplyMemoryLimit(Verdict& verdict, std::uint32_t limit_mb, std::string_view log_tail);

// What the shim writes to the run's log when the pipeline was ended for
// its CPU time (RLIMIT_CPU).
inline constexpr const char* kCpuLimitSign = "CPU time limit reached";
// A run that did not succeed and whose log has the shim's kCpuLimitSign
// line fails with "CPU time limit reached (N s)": not retried, the same
// input spins the same way. Unchanged otherwise.
void ApplyCpuLimit(Verdict& verdict, std::uint32_t cpu_seconds, std::string_view log_tail);

}  // namespace runner
