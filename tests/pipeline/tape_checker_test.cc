#include "pipeline/tape_checker.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pipeline {
namespace {

constexpr const char* kHeader =
    "loan_id,state,product,balance,note_rate,fico,ltv,dti,term_months,"
    "maturity_date\n";
// Passes every rule below for pdate 2026-12-01.
constexpr const char* kGood =
    "L1,CA,CONF30,250000.00,6.500,740,80.00,36.0,360,2056-11-01\n";

EligibilityRules TestRules() {
  EligibilityRules r;
  r.min_balance_cents = 5'000'000;
  r.max_balance_cents = 100'000'000;
  r.min_note_rate = 3.0;
  r.max_note_rate = 9.0;
  r.min_fico = 620;
  r.max_ltv = 95.0;
  r.max_dti = 45.0;
  r.min_term_months = 120;
  r.max_term_months = 360;
  r.min_remaining_months = 12;
  r.allowed_states = {"CA", "TX"};
  r.allowed_products = {"CONF30", "FHA30"};
  return r;
}

PriceGrid TestGrid() {
  PriceGrid::Row base;
  base.product = "CONF30";
  base.rate_min = 3.0;
  base.rate_max = 9.0;
  base.price_milli = 100'000;
  PriceGrid::Row fha = base;
  fha.product = "FHA30";
  fha.rate_max = 7.0;  // FHA above 7% has no price
  return PriceGrid::FromRows({base, fha});
}

struct Fixture {
  EligibilityRules rules = TestRules();
  PriceGrid grid = TestGrid();
  std::string text;
  CheckedTape tape;

  Status Run(std::string tape_text) {
    text = std::move(tape_text);
    TapeChecker checker(rules, grid, CivilDate::FromYmd(2026, 12, 1));
    return checker.Check(text, "tape.csv", &tape);
  }
  // Rule names failed by the row on `line`.
  std::vector<std::string> RulesOn(uint32_t line) const {
    std::vector<std::string> out;
    for (const auto& e : tape.exceptions) {
      if (e.line == line) out.push_back(RuleName(e.rule));
    }
    return out;
  }
  const LoanException* Find(uint32_t line, Rule rule) const {
    for (const auto& e : tape.exceptions) {
      if (e.line == line && e.rule == rule) return &e;
    }
    return nullptr;
  }
};

using Names = std::vector<std::string>;

// Replaces field `index` of the good row with `value`.
std::string GoodWith(int index, const std::string& value) {
  std::string row = kGood;
  row.pop_back();
  std::vector<std::string> f;
  size_t start = 0;
  for (size_t i = 0; i <= row.size(); ++i) {
    if (i == row.size() || row[i] == ',') {
      f.push_back(row.substr(start, i - start));
      start = i + 1;
    }
  }
  f[static_cast<size_t>(index)] = value;
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + f[i];
  return out + "\n";
}

TEST_CASE("a loan within every limit is eligible and priced") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) + kGood).ok());
  REQUIRE(fx.tape.loans.size() == 1);
  CHECK(fx.tape.loans[0].eligible);
  CHECK(fx.tape.loans[0].price_milli == 100'000);
  CHECK(fx.tape.loans[0].balance_cents == 25'000'000);
  CHECK(fx.tape.exceptions.empty());
  CHECK(fx.tape.total_loans == 1);
  CHECK(fx.tape.exception_loans == 0);
}

TEST_CASE("each rule rejects a loan that breaks it, naming value and limit") {
  struct Case {
    int field;
    std::string value;
    Rule rule;
    std::string limit;
    size_t exceptions = 1;  // rules failed in all
  };
  const Case cases[] = {
      {3, "49999.99", Rule::kMinBalance, ">= 50000.00"},
      {3, "1000000.01", Rule::kMaxBalance, "<= 1000000.00"},
      {4, "2.999", Rule::kMinNoteRate, ">= 3"},
      {4, "9.125", Rule::kMaxNoteRate, "<= 9"},
      {5, "619", Rule::kMinFico, ">= 620"},
      {6, "95.01", Rule::kMaxLtv, "<= 95"},
      {7, "45.1", Rule::kMaxDti, "<= 45"},
      {1, "PR", Rule::kAllowedState, "one of allowed.states"},
      {2, "HELOC", Rule::kAllowedProduct, "one of allowed.products"},
      // A 60-month loan maturing in 2056 also matures beyond its term.
      {8, "60", Rule::kMinTerm, ">= 120", 2},
      {8, "480", Rule::kMaxTerm, "<= 360"},
      {9, "2026-12-01", Rule::kMaturityAfterPdate, "> 2026-12-01"},
      {9, "2027-11-30", Rule::kMinRemainingTerm,
       ">= 2027-12-01 (12 months after pdate)"},
      {9, "2056-12-02", Rule::kMaturityBeyondTerm,
       "<= 2056-12-01 (pdate + 360 months)"},
      {5, "", Rule::kMissingField, "required"},
      {6, "N/A", Rule::kMalformedField, "a percentage >= 0"},
      {3, "$250000", Rule::kMalformedField, "dollars with up to 2 decimals"},
      {9, "2056-02-30", Rule::kMalformedField,
       "a date YYYY-MM-DD or MM/DD/YYYY"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    Fixture fx;
    REQUIRE(fx.Run(std::string(kHeader) + GoodWith(c.field, c.value)).ok());
    REQUIRE(fx.tape.loans.size() == 1);
    CHECK_FALSE(fx.tape.loans[0].eligible);
    CHECK(fx.tape.exception_loans == 1);
    CHECK(fx.tape.exceptions.size() == c.exceptions);
    const LoanException* found = fx.Find(2, c.rule);
    REQUIRE_MESSAGE(found != nullptr, "expected rule ", RuleName(c.rule));
    const LoanException& e = *found;
    CHECK(e.value == c.value);
    CHECK(e.limit == c.limit);
    CHECK(e.line == 2);
    CHECK(e.loan_id == "L1");
  }
}

TEST_CASE("a loan with no matching price row is an exception") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) +
                 "L1,CA,FHA30,250000.00,7.500,740,80.00,36.0,360,2056-11-01\n")
              .ok());
  CHECK(fx.RulesOn(2) == Names{"no_price"});
  CHECK_FALSE(fx.tape.loans[0].eligible);
}

TEST_CASE("a loan breaking several rules lists every one of them") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) +
                 "L1,ZZ,CONF30,1000.00,6.5,600,99,50,360,2020-01-01\n")
              .ok());
  CHECK(fx.RulesOn(2) == Names{"min_balance", "min_fico", "max_ltv", "max_dti",
                               "maturity_after_pdate", "allowed_state"});
  CHECK(fx.tape.exception_loans == 1);
}

TEST_CASE("every row sharing a loan id fails as a duplicate") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) + kGood +
                 "L2,TX,CONF30,100000,6.5,700,70,30,360,2056-11-01\n" + kGood)
              .ok());
  CHECK(fx.RulesOn(2) == Names{"duplicate_loan_id"});
  CHECK(fx.RulesOn(3).empty());
  CHECK(fx.RulesOn(4) == Names{"duplicate_loan_id"});
  CHECK(fx.Find(2, Rule::kDuplicateLoanId)->limit == "unique (also on line 4)");
  CHECK(fx.tape.exception_loans == 2);
  CHECK(fx.tape.duplicate_rows == 2);
  CHECK_FALSE(fx.tape.loans[0].eligible);
  CHECK(fx.tape.loans[1].eligible);
}

TEST_CASE("columns are found by name in any order, extras ignored") {
  Fixture fx;
  REQUIRE(fx.Run("Borrower,MATURITY_DATE,Term_Months, dti ,ltv,fico,note_rate,"
                 "balance,product,state,loan_id,zip\n"
                 "\"Smith, Jo\",2056-11-01,360,36,80,740,6.5,250000,CONF30,CA,"
                 "L9,90210\n")
              .ok());
  REQUIRE(fx.tape.loans.size() == 1);
  CHECK(fx.tape.loans[0].eligible);
  CHECK(fx.tape.loans[0].id == "L9");
  CHECK(fx.tape.loans[0].fico == 740);
}

TEST_CASE("a header without the required columns fails the run, naming them") {
  Fixture fx;
  Status s = fx.Run("loan_id,state,product,balance,note_rate,ltv,dti\nL1,CA\n");
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalidInput);
  CHECK(s.message().find("fico, term_months, maturity_date") !=
        std::string::npos);
  SUBCASE("an empty file is not a loan tape either") {
    Fixture empty;
    CHECK(empty.Run("\xEF\xBB\xBF\r\n").code() == Code::kInvalidInput);
  }
}

TEST_CASE("an unparseable row is an exception with its line, not a crash") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) + "\n" + kGood +
                 "L2,CA,CONF30,\"100\"000,6.5,700,70,30,360,2056-11-01\n"
                 "L3,CA,CONF30\n"
                 "L4,TX,CONF30,100000,6.5,700,70,30,360,2056-11-01\n")
              .ok());
  CHECK(fx.tape.total_loans == 4);
  CHECK(fx.tape.parse_errors == 2);
  CHECK(fx.tape.exception_loans == 2);
  CHECK(fx.RulesOn(4) == Names{"parse_error"});
  CHECK(fx.RulesOn(5) == Names{"parse_error"});
  CHECK(fx.Find(5, Rule::kParseError)->value == "3 fields");
  CHECK(fx.Find(5, Rule::kParseError)->loan_id == "L3");
  CHECK(fx.tape.loans.size() == 2);
  CHECK(fx.tape.loans[1].line == 6);
  CHECK(fx.tape.loans[1].eligible);
}

TEST_CASE("quoted ids with doubled quotes stay valid after checking") {
  Fixture fx;
  REQUIRE(fx.Run(std::string(kHeader) +
                 "\"L\"\"1\",CA,CONF30,250000,6.5,740,80,36,360,11/01/2056\r\n")
              .ok());
  REQUIRE(fx.tape.loans.size() == 1);
  CHECK(fx.tape.loans[0].id == "L\"1");
  CHECK(fx.tape.loans[0].eligible);
  CHECK(fx.tape.loans[0].maturity == CivilDate::FromYmd(2056, 11, 1));
}

}  // namespace
}  // namespace pipeline
