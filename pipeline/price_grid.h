// The purchase price grid from price_grid_YYYYMMDD.csv: a base price by
// product and note-rate bucket plus additive loan-level price adjustments
// (LLPAs) by FICO and LTV bucket, the way a rate sheet is laid out. Prices are
// points per 100 of balance, held as integer thousandths (101.250 -> 101250).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"
#include "pipeline/string_index.h"

namespace pipeline {

class PriceGrid {
 public:
  // One grid row. Bounds are inclusive; an absent bound matches anything.
  struct Row {
    bool is_base = true;  // "base" or "llpa"
    std::string product;  // "*" for every product
    double rate_min = -1e300, rate_max = 1e300;
    int fico_min = INT32_MIN, fico_max = INT32_MAX;
    double ltv_min = -1e300, ltv_max = 1e300;
    int32_t price_milli = 0;  // base price or signed adjustment
  };

  PriceGrid() = default;
  PriceGrid(PriceGrid&&) = default;
  PriceGrid& operator=(PriceGrid&&) = default;
  PriceGrid(const PriceGrid&) = delete;
  PriceGrid& operator=(const PriceGrid&) = delete;

  // Builds a grid from rows (any order; the first matching base row wins).
  static PriceGrid FromRows(std::vector<Row> rows);
  // Parses the CSV form; header columns are found by name. `source` names
  // the file in error messages (kInvalidInput).
  static Result<PriceGrid> Parse(std::string_view csv,
                                 const std::string& source);
  static Result<PriceGrid> Load(const std::string& path);
  // Every loan priced at par (100.000): used when no grid is required.
  static PriceGrid Par();

  // Base price plus the sum of every matching adjustment, or nullopt when
  // no base row matches the loan.
  std::optional<int32_t> Price(std::string_view product, double note_rate,
                               int fico, double ltv) const;

  // The CSV form that Parse() reads back.
  static std::string ToCsv(const std::vector<Row>& rows);

 private:
  // FICO scores below this use a table of candidate adjustment rows, so a
  // lookup checks the handful of rows for that score, not the whole grid.
  static constexpr int kFicoTable = 1000;
  struct Bucket {
    std::vector<Row> base;
    std::vector<Row> llpa;
    // llpa rows whose FICO range holds score f:
    // llpa_by_fico[llpa_start[f] .. llpa_start[f + 1]).
    std::vector<uint32_t> llpa_start;
    std::vector<uint16_t> llpa_by_fico;
  };

  std::vector<Bucket> buckets_;  // [0] holds the "*" rows alone
  std::vector<std::string> product_names_;
  StringIndex products_;
};

}  // namespace pipeline
