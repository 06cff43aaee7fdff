#include "pipeline/purchase_summary.h"

#include <algorithm>
#include <deque>

#include "pipeline/string_index.h"

namespace pipeline {
namespace {

double Ratio(double sum, int64_t weight) {
  return weight == 0 ? 0.0 : sum / static_cast<double>(weight);
}

void Add(const Loan& loan, GroupTotals* g) {
  ++g->loans;
  if (!loan.eligible) {
    ++g->exceptions;
    return;
  }
  const double bal = static_cast<double>(loan.balance_cents);
  ++g->eligible;
  g->eligible_balance_cents += loan.balance_cents;
  g->purchase_cents += PurchaseCents(loan.balance_cents, loan.price_milli);
  g->rate_x_balance += loan.note_rate * bal;
  g->fico_x_balance += loan.fico * bal;
  g->ltv_x_balance += loan.ltv * bal;
}

// Groups keyed by a string column of the loan.
class Grouper {
 public:
  GroupTotals* For(std::string_view key) {
    if (key.empty()) key = PurchaseSummary::kMissingGroup;
    const uint32_t at =
        index_.FindOrInsert(key, static_cast<uint32_t>(groups_.size()));
    if (at != StringIndex::kAbsent) return &groups_[at];
    groups_.push_back(GroupTotals{});
    groups_.back().name = std::string(key);
    return &groups_.back();
  }
  std::vector<GroupTotals> Sorted() {
    std::vector<GroupTotals> out(groups_.begin(), groups_.end());
    std::sort(out.begin(), out.end(),
              [](const GroupTotals& a, const GroupTotals& b) {
                return a.name < b.name;
              });
    return out;
  }

 private:
  StringIndex index_;  // keys view the tape, which outlives the grouper
  std::deque<GroupTotals> groups_;
};

}  // namespace

double GroupTotals::WaNoteRate() const {
  return Ratio(rate_x_balance, eligible_balance_cents);
}
double GroupTotals::WaFico() const {
  return Ratio(fico_x_balance, eligible_balance_cents);
}
double GroupTotals::WaLtv() const {
  return Ratio(ltv_x_balance, eligible_balance_cents);
}
double GroupTotals::WaPrice() const {
  return eligible_balance_cents == 0
             ? 0.0
             : 100.0 * static_cast<double>(purchase_cents) /
                   static_cast<double>(eligible_balance_cents);
}

PurchaseSummary PurchaseSummary::Of(const CheckedTape& tape) {
  PurchaseSummary s;
  s.total.name = "all";
  Grouper products, states;
  for (const Loan& loan : tape.loans) {
    Add(loan, &s.total);
    Add(loan, products.For(loan.product));
    Add(loan, states.For(loan.state));
  }
  // Unparseable rows count in the total only: they have no trusted fields.
  s.total.loans += tape.parse_errors;
  s.total.exceptions += tape.parse_errors;
  s.by_product = products.Sorted();
  s.by_state = states.Sorted();
  return s;
}

}  // namespace pipeline
