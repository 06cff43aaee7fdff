// Writes realistic, reproducible sample inputs for the loan-tape pipeline: a
// tape (BOM, CRLF, quoted addresses and names, extra columns, ~5% of loans
// breaking a rule, a few malformed rows) plus the rules and price grid.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/civil_date.h"
#include "pipeline/price_grid.h"
#include "pipeline/status.h"

namespace pipeline {

struct SampleOptions {
  uint64_t loans = 1000;
  CivilDate date;  // file date and the purchase date the tape is built for
  uint64_t seed = 1;
  std::string out_dir;
  bool sync = false;  // sample data need not survive a crash
};

struct SampleStats {
  uint64_t loans = 0;           // data rows written, malformed included
  uint64_t rule_breakers = 0;   // rows made to break one rule on purpose
  uint64_t malformed_rows = 0;  // rows that are not valid CSV / wrong width
  std::string tape_path;
  std::string rules_path;
  std::string grid_path;
};

// Same options, same bytes. Creates out_dir if needed.
Result<SampleStats> GenerateSample(const SampleOptions& options);

// The sample price grid: base prices by product and note-rate bucket plus
// FICO x LTV and per-product adjustments.
std::vector<PriceGrid::Row> SamplePriceGridRows();

}  // namespace pipeline
