// The `loan-tape` job end to end: discover the newest inputs, check the tape,
// write purchase, exceptions and summary files for the purchase date.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "pipeline/civil_date.h"
#include "pipeline/loan.h"
#include "pipeline/purchase_summary.h"
#include "pipeline/status.h"

namespace pipeline {

struct JobOptions {
  std::string run_id;
  std::string team;  // empty for the general run
  std::string attempt;
  CivilDate pdate;
  CivilDate as_of;  // newest inputs dated on or before this
  std::string input_dir;
  std::string output_dir;
  std::string share_dir;
  std::string tape_pattern = "loan_tape_{date}.csv";
  std::string rules_pattern = "eligibility_rules_{date}.toml";
  std::string grid_pattern = "price_grid_{date}.csv";
  // An absent optional tape means no loans; absent rules mean the built-in
  // defaults; an absent grid prices every loan at par (100.000).
  bool require_tape = true;
  bool require_rules = true;
  bool require_grid = true;
  bool sync = true;  // fsync outputs before renaming them into place
};

struct JobReport {
  std::string tape_path;   // empty when absent
  std::string rules_path;  // empty: built-in defaults
  std::string grid_path;   // empty: priced at par
  std::string purchase_path;
  std::string exceptions_path;
  std::string summary_path;
  PurchaseSummary summary;
  uint64_t parse_errors = 0;
  uint64_t duplicate_rows = 0;
  uint64_t exception_rows = 0;                // lines in the exceptions file
  std::array<uint64_t, kNumRules> by_rule{};  // exception rows per rule
};

// Runs the job. Errors: kTempFail when a required input is missing (the
// message names the patterns and the folder), kInvalidInput for inputs that
// are not what they claim (e.g. a tape without the required columns),
// kIoError for files that cannot be read or written, kUsage for bad patterns.
Result<JobReport> RunLoanTapeJob(const JobOptions& options);

// Output file names for a purchase date, e.g. "purchase_20261201.csv".
std::string PurchaseFileName(CivilDate pdate);
std::string ExceptionsFileName(CivilDate pdate);
std::string SummaryFileName(CivilDate pdate);

}  // namespace pipeline
