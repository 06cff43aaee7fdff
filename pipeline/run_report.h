// Renders a job's outcome: the JSON result file of the pipeline contract and
// the short human summary printed on stdout.
#pragma once

#include <string>

#include "pipeline/loan_tape_job.h"
#include "pipeline/status.h"

namespace pipeline {

// {"status":"ok","total_loans":...}; fields are listed in docs/pipeline.md.
std::string ResultJson(const JobOptions& options, const JobReport& report,
                       double elapsed_seconds);
// {"status":"tempfail"|"failed","exit_code":..,"error":...} for a failed run.
std::string FailureJson(const JobOptions& options, const Status& status);
// A few lines for the run log.
std::string HumanSummary(const JobOptions& options, const JobReport& report,
                         double elapsed_seconds);
// `s` as a JSON string literal, quotes included.
std::string JsonString(std::string_view s);

}  // namespace pipeline
