// Reads a loan tape and checks every row against the eligibility rules and
// the price grid: the heart of the loan-tape pipeline. One pass over the
// bytes, no per-field allocation; only failures allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/civil_date.h"
#include "pipeline/csv_reader.h"
#include "pipeline/eligibility_rules.h"
#include "pipeline/loan.h"
#include "pipeline/price_grid.h"
#include "pipeline/status.h"

namespace pipeline {

struct CheckedTape {
  std::vector<Loan> loans;                // rows that parsed, in tape order
  std::vector<LoanException> exceptions;  // by line, then rule
  uint64_t total_loans = 0;               // data rows, parseable or not
  uint64_t exception_loans = 0;           // rows failing at least one rule
  uint64_t parse_errors = 0;              // rows that are not valid CSV
  uint64_t duplicate_rows = 0;            // rows whose loan_id repeats
  // Owns unescaped field text that Loan views may point into.
  std::unique_ptr<CsvReader> reader;
};

class TapeChecker {
 public:
  // `rules` and `grid` must outlive the checker.
  TapeChecker(const EligibilityRules& rules, const PriceGrid& grid,
              CivilDate pdate);
  TapeChecker(const TapeChecker&) = delete;
  TapeChecker& operator=(const TapeChecker&) = delete;

  // Checks every row of `tape`, which must outlive `out`. Bad rows become
  // exceptions; only a header lacking required columns (or an empty file)
  // fails, with kInvalidInput naming the missing columns. `source` names the
  // file in messages.
  Status Check(std::string_view tape, const std::string& source,
               CheckedTape* out);

 private:
  class RowChecker;
  // Fails every row whose loan_id appears more than once.
  static void FlagDuplicates(CheckedTape* out);

  const EligibilityRules& rules_;
  const PriceGrid& grid_;
  const CivilDate pdate_;
  StringIndex states_;
  StringIndex products_;
  std::vector<int32_t> term_end_;  // pdate + n months, by n
};

}  // namespace pipeline
