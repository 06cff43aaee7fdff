#include "pipeline/tape_checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "pipeline/field_parse.h"

namespace pipeline {
namespace {

constexpr int kMaxTermCache = 1200;  // months

std::string Money(int64_t cents) {
  char buf[32];
  return std::string(buf, WriteCents(buf, cents));
}

}  // namespace

TapeChecker::TapeChecker(const EligibilityRules& rules, const PriceGrid& grid,
                         CivilDate pdate)
    : rules_(rules),
      grid_(grid),
      pdate_(pdate),
      states_(rules.allowed_states.size()),
      products_(rules.allowed_products.size()) {
  for (const std::string& s : rules_.allowed_states) states_.FindOrInsert(s, 1);
  for (const std::string& p : rules_.allowed_products) {
    products_.FindOrInsert(p, 1);
  }
  term_end_.resize(kMaxTermCache + 1);
  for (int n = 0; n <= kMaxTermCache; ++n) {
    term_end_[static_cast<size_t>(n)] = pdate_.AddMonths(n).days;
  }
}

// Checks one row; a helper object so the rule code reads top to bottom.
class TapeChecker::RowChecker {
 public:
  RowChecker(const TapeChecker& c, CheckedTape* out, uint32_t line)
      : c_(c), out_(out), line_(line) {}

  bool failed() const { return failed_; }

  void Fail(Rule rule, Field field, std::string_view value, std::string limit) {
    failed_ = true;
    out_->exceptions.push_back(LoanException{
        line_, std::string(id_), rule,
        field == Field::kCount ? "" : kFieldNames[static_cast<int>(field)],
        std::string(value), std::move(limit)});
  }

  // Returns the trimmed text, or empty after recording a missing field.
  std::string_view Required(const CsvRecord& rec, const int* cols, Field f) {
    const std::string_view v =
        Trim(rec.fields[static_cast<size_t>(cols[static_cast<int>(f)])]);
    if (v.empty()) Fail(Rule::kMissingField, f, "", "required");
    return v;
  }

  void Check(const CsvRecord& rec, const int* cols, Loan* loan) {
    const EligibilityRules& r = c_.rules_;
    id_ = Trim(rec.fields[static_cast<size_t>(cols[0])]);
    loan->id = Required(rec, cols, Field::kLoanId);
    loan->state = Required(rec, cols, Field::kState);
    loan->product = Required(rec, cols, Field::kProduct);

    const std::string_view balance = Required(rec, cols, Field::kBalance);
    if (!balance.empty()) {
      if (!ParseCents(balance, &loan->balance_cents)) {
        Fail(Rule::kMalformedField, Field::kBalance, balance,
             "dollars with up to 2 decimals");
      } else {
        if (loan->balance_cents < r.min_balance_cents) {
          Fail(Rule::kMinBalance, Field::kBalance, balance,
               ">= " + Money(r.min_balance_cents));
        }
        if (loan->balance_cents > r.max_balance_cents) {
          Fail(Rule::kMaxBalance, Field::kBalance, balance,
               "<= " + Money(r.max_balance_cents));
        }
      }
    }

    const std::string_view rate = Required(rec, cols, Field::kNoteRate);
    bool rate_ok = false;
    if (!rate.empty()) {
      if (!ParseDouble(rate, &loan->note_rate) || loan->note_rate < 0) {
        Fail(Rule::kMalformedField, Field::kNoteRate, rate,
             "a percentage >= 0");
      } else {
        rate_ok = true;
        rate_failed_ = loan->note_rate < r.min_note_rate ||
                       loan->note_rate > r.max_note_rate;
        if (loan->note_rate < r.min_note_rate) {
          Fail(Rule::kMinNoteRate, Field::kNoteRate, rate,
               fmt::format(">= {}", r.min_note_rate));
        }
        if (loan->note_rate > r.max_note_rate) {
          Fail(Rule::kMaxNoteRate, Field::kNoteRate, rate,
               fmt::format("<= {}", r.max_note_rate));
        }
      }
    }

    const std::string_view fico = Required(rec, cols, Field::kFico);
    bool fico_ok = false;
    if (!fico.empty()) {
      if (!ParseInt(fico, &loan->fico) || loan->fico < 0) {
        Fail(Rule::kMalformedField, Field::kFico, fico, "a whole number");
      } else {
        fico_ok = true;
        if (loan->fico < r.min_fico) {
          Fail(Rule::kMinFico, Field::kFico, fico,
               fmt::format(">= {}", r.min_fico));
        }
      }
    }

    const std::string_view ltv = Required(rec, cols, Field::kLtv);
    bool ltv_ok = false;
    if (!ltv.empty()) {
      if (!ParseDouble(ltv, &loan->ltv) || loan->ltv < 0) {
        Fail(Rule::kMalformedField, Field::kLtv, ltv, "a percentage >= 0");
      } else {
        ltv_ok = true;
        if (loan->ltv > r.max_ltv) {
          Fail(Rule::kMaxLtv, Field::kLtv, ltv,
               fmt::format("<= {}", r.max_ltv));
        }
      }
    }

    const std::string_view dti = Required(rec, cols, Field::kDti);
    if (!dti.empty()) {
      if (!ParseDouble(dti, &loan->dti) || loan->dti < 0) {
        Fail(Rule::kMalformedField, Field::kDti, dti, "a percentage >= 0");
      } else if (loan->dti > r.max_dti) {
        Fail(Rule::kMaxDti, Field::kDti, dti, fmt::format("<= {}", r.max_dti));
      }
    }

    const std::string_view term = Required(rec, cols, Field::kTermMonths);
    bool term_ok = false;
    if (!term.empty()) {
      if (!ParseInt(term, &loan->term_months) || loan->term_months <= 0) {
        Fail(Rule::kMalformedField, Field::kTermMonths, term,
             "a whole number of months > 0");
      } else {
        term_ok = true;
        if (loan->term_months < r.min_term_months) {
          Fail(Rule::kMinTerm, Field::kTermMonths, term,
               fmt::format(">= {}", r.min_term_months));
        }
        if (loan->term_months > r.max_term_months) {
          Fail(Rule::kMaxTerm, Field::kTermMonths, term,
               fmt::format("<= {}", r.max_term_months));
        }
      }
    }

    const std::string_view maturity = Required(rec, cols, Field::kMaturityDate);
    if (!maturity.empty()) {
      auto date = CivilDate::Parse(maturity);
      if (!date) {
        Fail(Rule::kMalformedField, Field::kMaturityDate, maturity,
             "a date YYYY-MM-DD or MM/DD/YYYY");
      } else {
        loan->maturity = *date;
        CheckMaturity(maturity, term_ok ? loan->term_months : -1, *date);
      }
    }

    if (!loan->state.empty() && !r.allowed_states.empty() &&
        c_.states_.Find(loan->state) == StringIndex::kAbsent) {
      Fail(Rule::kAllowedState, Field::kState, loan->state,
           "one of allowed.states");
    }
    if (!loan->product.empty() && !r.allowed_products.empty() &&
        c_.products_.Find(loan->product) == StringIndex::kAbsent) {
      Fail(Rule::kAllowedProduct, Field::kProduct, loan->product,
           "one of allowed.products");
      product_failed_ = true;
    }
    // A loan already failing on product or rate would also miss the grid;
    // saying so twice helps nobody.
    if (!loan->product.empty() && rate_ok && fico_ok && ltv_ok &&
        !product_failed_ && !rate_failed_) {
      auto price =
          c_.grid_.Price(loan->product, loan->note_rate, loan->fico, loan->ltv);
      if (price) {
        loan->price_milli = *price;
      } else {
        Fail(Rule::kNoPrice, Field::kProduct, loan->product,
             fmt::format("a base price row for {} at note rate {}",
                         loan->product, rate));
      }
    }
  }

 private:
  void CheckMaturity(std::string_view text, int term, CivilDate date) {
    const CivilDate pdate = c_.pdate_;
    const int min_months = c_.rules_.min_remaining_months;
    if (date <= pdate) {
      Fail(Rule::kMaturityAfterPdate, Field::kMaturityDate, text,
           "> " + pdate.Iso());
    } else if (date < pdate.AddMonths(min_months)) {
      Fail(Rule::kMinRemainingTerm, Field::kMaturityDate, text,
           fmt::format(">= {} ({} months after pdate)",
                       pdate.AddMonths(min_months).Iso(), min_months));
    }
    if (term > 0) {
      const CivilDate last =
          term <= kMaxTermCache
              ? CivilDate{c_.term_end_[static_cast<size_t>(term)]}
              : pdate.AddMonths(term);
      if (date > last) {
        Fail(Rule::kMaturityBeyondTerm, Field::kMaturityDate, text,
             fmt::format("<= {} (pdate + {} months)", last.Iso(), term));
      }
    }
  }

  const TapeChecker& c_;
  CheckedTape* out_;
  uint32_t line_;
  std::string_view id_;
  bool failed_ = false;
  bool product_failed_ = false;
  bool rate_failed_ = false;
};

Status TapeChecker::Check(std::string_view tape, const std::string& source,
                          CheckedTape* out) {
  out->reader = std::make_unique<CsvReader>(tape);
  CsvReader& reader = *out->reader;
  CsvRecord rec;
  if (!reader.Next(&rec)) {
    return Status::Error(Code::kInvalidInput,
                         source + ": not a loan tape: the file is empty");
  }
  const size_t width = rec.fields.size();
  int cols[kNumFields];
  std::string missing;
  for (int f = 0; f < kNumFields; ++f) {
    cols[f] = rec.error ? -1 : FindColumn(rec.fields, kFieldNames[f]);
    if (cols[f] < 0) {
      missing += (missing.empty() ? "" : ", ") + std::string(kFieldNames[f]);
    }
  }
  if (!missing.empty()) {
    return Status::Error(
        Code::kInvalidInput,
        fmt::format("{}: not a loan tape: header (line {}) lacks required "
                    "columns: {}",
                    source, rec.line, missing));
  }

  // A row is rarely under 64 bytes; untouched reserve costs no memory.
  out->loans.reserve(tape.size() / 64 + 16);
  while (reader.Next(&rec)) {
    ++out->total_loans;
    if (rec.error != nullptr || rec.fields.size() != width) {
      ++out->parse_errors;
      ++out->exception_loans;
      const size_t id_col = static_cast<size_t>(cols[0]);
      out->exceptions.push_back(LoanException{
          rec.line,
          id_col < rec.fields.size() ? std::string(Trim(rec.fields[id_col]))
                                     : std::string(),
          Rule::kParseError, "",
          rec.error ? rec.error : fmt::format("{} fields", rec.fields.size()),
          rec.error ? "valid CSV" : fmt::format("{} fields", width)});
      continue;
    }
    Loan loan;
    loan.line = rec.line;
    RowChecker row(*this, out, rec.line);
    row.Check(rec, cols, &loan);
    loan.eligible = !row.failed();
    if (row.failed()) ++out->exception_loans;
    out->loans.push_back(loan);
  }
  FlagDuplicates(out);
  std::stable_sort(out->exceptions.begin(), out->exceptions.end(),
                   [](const LoanException& a, const LoanException& b) {
                     return a.line < b.line;
                   });
  return Status();
}

void TapeChecker::FlagDuplicates(CheckedTape* out) {
  std::vector<Loan>& loans = out->loans;
  const size_t n = loans.size();
  // Hash first, then insert while prefetching a few loans ahead: the table
  // is far bigger than the cache, and this hides most of each miss.
  std::vector<uint64_t> hashes(n);
  for (size_t i = 0; i < n; ++i) hashes[i] = StringIndex::Hash(loans[i].id);
  StringIndex ids(n);
  std::vector<char> flagged(n, 0);
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) ids.Prefetch(hashes[i + kAhead]);
    if (loans[i].id.empty()) continue;
    const uint32_t first =
        ids.FindOrInsert(loans[i].id, hashes[i], static_cast<uint32_t>(i));
    if (first == StringIndex::kAbsent) continue;
    // Every row sharing the id fails: the tape cannot say which is real.
    for (size_t dup : {static_cast<size_t>(first), i}) {
      if (flagged[dup]) continue;
      flagged[dup] = 1;
      Loan& loan = loans[dup];
      ++out->duplicate_rows;
      if (loan.eligible) {
        loan.eligible = false;
        ++out->exception_loans;
      }
      const uint32_t other = dup == i ? loans[first].line : loans[i].line;
      out->exceptions.push_back(
          LoanException{loan.line, std::string(loan.id), Rule::kDuplicateLoanId,
                        "loan_id", std::string(loan.id),
                        fmt::format("unique (also on line {})", other)});
    }
  }
}

}  // namespace pipeline
