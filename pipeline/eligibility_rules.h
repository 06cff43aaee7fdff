// The purchase eligibility limits, loaded from eligibility_rules_YYYYMMDD.toml
// (format in docs/pipeline.md). Money is held in cents, rates in percent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/status.h"

namespace pipeline {

struct EligibilityRules {
  int64_t min_balance_cents = 5'000'000;    // $50,000.00
  int64_t max_balance_cents = 200'000'000;  // $2,000,000.00
  double min_note_rate = 2.0;               // percent
  double max_note_rate = 12.0;
  int min_fico = 620;
  double max_ltv = 97.0;  // percent
  double max_dti = 50.0;  // percent
  int min_term_months = 120;
  int max_term_months = 360;
  // Maturity must fall at least this many months after the purchase date.
  int min_remaining_months = 12;
  std::vector<std::string> allowed_states;    // empty: any state
  std::vector<std::string> allowed_products;  // empty: any product

  // Built-in limits, used when the rules file is optional and absent.
  static EligibilityRules Defaults();
  // Parses TOML text; every key is required and unknown keys are rejected,
  // so a typo cannot silently loosen a rule. `source` names it in errors.
  static Result<EligibilityRules> Parse(const std::string& toml_text,
                                        const std::string& source);
  static Result<EligibilityRules> Load(const std::string& path);
  // The TOML form that Parse() reads back.
  std::string ToToml() const;
};

}  // namespace pipeline
