// Aggregates of a checked tape with no borrower data in them: counts,
// balances and balance-weighted averages, overall, by product and by state.
// This is what the shareable summary file and the result file report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/tape_checker.h"

namespace pipeline {

struct GroupTotals {
  std::string name;
  uint64_t loans = 0;       // rows in the group
  uint64_t exceptions = 0;  // rows failing at least one rule
  uint64_t eligible = 0;
  int64_t eligible_balance_cents = 0;
  int64_t purchase_cents = 0;
  // Sums of value * balance over eligible loans, for weighted averages.
  double rate_x_balance = 0;
  double fico_x_balance = 0;
  double ltv_x_balance = 0;

  // Balance-weighted averages over the eligible loans (0 when none).
  double WaNoteRate() const;
  double WaFico() const;
  double WaLtv() const;
  // Weighted average price, points per 100 of eligible balance.
  double WaPrice() const;
};

struct PurchaseSummary {
  GroupTotals total;  // includes rows that could not be parsed
  std::vector<GroupTotals> by_product;  // sorted by name
  std::vector<GroupTotals> by_state;    // sorted by name

  // Rows with an empty product or state are grouped under this name.
  static constexpr const char* kMissingGroup = "(missing)";

  static PurchaseSummary Of(const CheckedTape& tape);
};

}  // namespace pipeline
