// A parsed loan-tape row, the eligibility rules it can fail, and the record
// of one failure, as the checker produces and the output writers consume.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/civil_date.h"

namespace pipeline {

// Required tape columns, in the order their indexes are kept.
enum class Field : uint8_t {
  kLoanId,
  kState,
  kProduct,
  kBalance,
  kNoteRate,
  kFico,
  kLtv,
  kDti,
  kTermMonths,
  kMaturityDate,
  kCount
};
inline constexpr int kNumFields = static_cast<int>(Field::kCount);
// Header names, indexed by Field.
inline constexpr const char* kFieldNames[kNumFields] = {
    "loan_id", "state", "product", "balance",     "note_rate",
    "fico",    "ltv",   "dti",     "term_months", "maturity_date"};

enum class Rule : uint8_t {
  kParseError,       // the row is not valid CSV or has the wrong width
  kMissingField,     // a required field is empty
  kMalformedField,   // not a number / date of the expected form
  kDuplicateLoanId,  // every row sharing the id fails
  kMinBalance,
  kMaxBalance,
  kMinNoteRate,
  kMaxNoteRate,
  kMinFico,
  kMaxLtv,
  kMaxDti,
  kAllowedState,
  kAllowedProduct,
  kMinTerm,
  kMaxTerm,
  kMaturityAfterPdate,  // matures on or before the purchase date
  kMinRemainingTerm,    // matures too soon after the purchase date
  kMaturityBeyondTerm,  // matures later than pdate + term_months
  kNoPrice,             // no base row of the price grid matches
  kCount
};
inline constexpr int kNumRules = static_cast<int>(Rule::kCount);
// Names as written in the exceptions file, indexed by Rule.
inline constexpr const char* kRuleNames[kNumRules] = {"parse_error",
                                                      "missing_field",
                                                      "malformed_field",
                                                      "duplicate_loan_id",
                                                      "min_balance",
                                                      "max_balance",
                                                      "min_note_rate",
                                                      "max_note_rate",
                                                      "min_fico",
                                                      "max_ltv",
                                                      "max_dti",
                                                      "allowed_state",
                                                      "allowed_product",
                                                      "min_term",
                                                      "max_term",
                                                      "maturity_after_pdate",
                                                      "min_remaining_term",
                                                      "maturity_beyond_term",
                                                      "no_price"};

inline const char* RuleName(Rule r) { return kRuleNames[static_cast<int>(r)]; }

// Views point into the tape (or the reader's unescape storage) and live as
// long as the CheckedTape that holds the loan.
struct Loan {
  std::string_view id;
  std::string_view state;
  std::string_view product;
  int64_t balance_cents = 0;
  double note_rate = 0;  // percent
  double ltv = 0;        // percent
  double dti = 0;        // percent
  int32_t fico = 0;
  int32_t term_months = 0;
  CivilDate maturity;
  uint32_t line = 0;        // where the row starts in the tape
  int32_t price_milli = 0;  // valid when eligible
  bool eligible = false;
};

// One failed rule of one row: a line of the exceptions file.
struct LoanException {
  uint32_t line = 0;
  std::string loan_id;  // may be empty (missing, or unparseable row)
  Rule rule = Rule::kParseError;
  std::string field;  // the column checked, empty for parse errors
  std::string value;  // the offending value as found
  std::string limit;  // what the rule requires
};

}  // namespace pipeline

namespace pipeline {

// Purchase amount in cents: balance * price / 100, rounded half up.
inline int64_t PurchaseCents(int64_t balance_cents, int32_t price_milli) {
  const int64_t scaled = balance_cents * price_milli;
  return scaled >= 0 ? (scaled + 50000) / 100000
                     : -((-scaled + 50000) / 100000);
}

}  // namespace pipeline
