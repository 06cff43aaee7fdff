#include "runner/outcome.h"

#include <sys/wait.h>

#include "schemas/vocabulary.h"

namespace runner {

namespace outcome = schemas::outcome;

Verdict Classify(int wait_status, std::string_view stop_reason,
                 const common::Result<RunMetrics>& result_file) {
  Verdict v;
  if (WIFEXITED(wait_status)) {
    v.exit_code = WEXITSTATUS(wait_status);
    if (v.exit_code == 0) {
      v.outcome = outcome::kSucceeded;
    } else if (v.exit_code == kExitTempFail) {
      v.outcome = outcome::kTransient;
      v.error = "pipeline exited 75 (temporary failure)";
    } else {
      v.outcome = outcome::kFailed;
      v.error = "pipeline exited " + std::to_string(v.exit_code);
    }
  } else {
    // Killed from outside (OOM killer, an operator): nothing the pipeline
    // decided, so another attempt may well succeed.
    v.outcome = outcome::kTransient;
    v.error = "pipeline killed by signal " + std::to_string(WTERMSIG(wait_status));
  }
  // Once we stopped it, how it ended says nothing about the pipeline: even a
  // clean exit 0 after TERM may have skipped work. Our reason is the error.
  if (!stop_reason.empty()) {
    v.outcome = outcome::kTransient;
    v.error = std::string(stop_reason);
  }
  if (result_file.ok()) {
    v.metrics = result_file.value();
  } else if (result_file.status().code() == common::Code::kInvalid && WIFEXITED(wait_status) &&
             stop_reason.empty()) {
    // The pipeline ended on its own and left a result file that breaks the
    // bounds (a FIFO, too big, too many metrics...): nothing of it is sent,
    // and the run fails rather than retries, since the same code writes the
    // same file again. A run that was killed keeps its transient verdict:
    // its file may be half-written, and the retry is what it needs.
    const std::string reason = result_file.status().message();
    v.outcome = outcome::kFailed;
    v.error = v.error.empty() ? reason : v.error + "; " + reason;
  } else if (v.outcome == outcome::kSucceeded) {
    v.warning = result_file.status().message();
  }
  return v;
}

void ApplyMemoryLimit(Verdict& verdict, std::uint32_t limit_mb, std::string_view log_tail) {
  if (limit_mb == 0 || verdict.outcome == outcome::kSucceeded) return;
  bool out_of_memory = false;
  for (std::string_view sign : {"MemoryError", "std::bad_alloc", "Cannot allocate memory",
                                "out of memory", "Out of memory", "memory exhausted"}) {
    out_of_memory = out_of_memory || log_tail.find(sign) != std::string_view::npos;
  }
  if (!out_of_memory) return;
  verdict.outcome = outcome::kFailed;
  verdict.error = "out of memory (limit " + std::to_string(limit_mb) + " MiB)";
}

void ApplyCpuLimit(Verdict& verdict, std::uint32_t cpu_seconds, std::string_view log_tail) {
  if (cpu_seconds == 0 || verdict.outcome == outcome::kSucceeded) return;
  if (log_tail.find(kCpuLimitSign) == std::string_view::npos) return;
  verdict.outcome = outcome::kFailed;
  verdict.error = std::string(kCpuLimitSign) + " (" + std::to_string(cpu_seconds) + " s)";
}

}  // namespace runner
