#include "pipeline/eligibility_rules.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace pipeline {
namespace {

const std::vector<std::string> kUsStates = {
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA",
    "HI", "IA", "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME",
    "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM",
    "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX",
    "UT", "VA", "VT", "WA", "WI", "WV", "WY"};

// The [section] key layout; anything else in the file is an error.
const std::set<std::string> kKnownKeys = {
    "balance.min",     "balance.max",
    "note_rate.min",   "note_rate.max",
    "fico.min",        "ltv.max",
    "dti.max",         "term_months.min",
    "term_months.max", "maturity.min_remaining_months",
    "allowed.states",  "allowed.products"};

class Reader {
 public:
  Reader(const toml::table& t, const std::string& source)
      : t_(t), source_(source) {}

  double Number(const char* path) {
    auto node = t_.at_path(path);
    if (auto v = node.value<double>()) return *v;  // also converts integers
    Fail(path, "a number");
    return 0;
  }
  int Integer(const char* path) {
    auto node = t_.at_path(path);
    if (auto v = node.value_exact<int64_t>()) return static_cast<int>(*v);
    Fail(path, "an integer");
    return 0;
  }
  std::vector<std::string> Strings(const char* path) {
    std::vector<std::string> out;
    const toml::array* arr = t_.at_path(path).as_array();
    if (arr == nullptr) {
      Fail(path, "an array of strings");
      return out;
    }
    for (const toml::node& n : *arr) {
      if (auto s = n.value<std::string>()) {
        out.push_back(*s);
      } else {
        Fail(path, "an array of strings");
      }
    }
    return out;
  }
  const std::string& error() const { return error_; }

 private:
  void Fail(const char* path, const char* what) {
    if (error_.empty()) {
      error_ = fmt::format("{}: '{}' must be {}", source_, path, what);
    }
  }
  const toml::table& t_;
  const std::string& source_;
  std::string error_;
};

std::string TomlStrings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    out += fmt::format("{}\"{}\"", i ? ", " : "", v[i]);
  }
  return out + "]";
}

}  // namespace

EligibilityRules EligibilityRules::Defaults() {
  EligibilityRules r;
  r.allowed_states = kUsStates;
  r.allowed_products = {"CONF30", "CONF15", "JUMBO30", "FHA30", "ARM71"};
  return r;
}

Result<EligibilityRules> EligibilityRules::Parse(const std::string& text,
                                                 const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e;
    return Status::Error(Code::kInvalidInput,
                         "not a valid rules file: " + msg.str());
  }
  for (const auto& [section, node] : table) {
    const toml::table* inner = node.as_table();
    if (inner == nullptr) {
      return Status::Error(Code::kInvalidInput,
                           fmt::format("{}: unknown key '{}'", source,
                                       std::string(section.str())));
    }
    for (const auto& [key, unused] : *inner) {
      const std::string full =
          std::string(section.str()) + "." + std::string(key.str());
      if (!kKnownKeys.count(full)) {
        return Status::Error(Code::kInvalidInput,
                             fmt::format("{}: unknown key '{}'", source, full));
      }
    }
  }
  Reader in(table, source);
  EligibilityRules r;
  r.min_balance_cents = std::llround(in.Number("balance.min") * 100);
  r.max_balance_cents = std::llround(in.Number("balance.max") * 100);
  r.min_note_rate = in.Number("note_rate.min");
  r.max_note_rate = in.Number("note_rate.max");
  r.min_fico = in.Integer("fico.min");
  r.max_ltv = in.Number("ltv.max");
  r.max_dti = in.Number("dti.max");
  r.min_term_months = in.Integer("term_months.min");
  r.max_term_months = in.Integer("term_months.max");
  r.min_remaining_months = in.Integer("maturity.min_remaining_months");
  r.allowed_states = in.Strings("allowed.states");
  r.allowed_products = in.Strings("allowed.products");
  if (!in.error().empty()) {
    return Status::Error(Code::kInvalidInput, in.error());
  }
  return r;
}

Result<EligibilityRules> EligibilityRules::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Status::Error(Code::kIoError, "cannot read rules file " + path);
  }
  std::ostringstream text;
  text << file.rdbuf();
  return Parse(text.str(), path);
}

std::string EligibilityRules::ToToml() const {
  return fmt::format(
      "# Loan purchase eligibility rules (see docs/pipeline.md).\n"
      "[balance]          # current unpaid principal, dollars\n"
      "min = {:.2f}\nmax = {:.2f}\n\n"
      "[note_rate]        # percent\nmin = {}\nmax = {}\n\n"
      "[fico]\nmin = {}\n\n"
      "[ltv]              # percent\nmax = {}\n\n"
      "[dti]              # percent\nmax = {}\n\n"
      "[term_months]\nmin = {}\nmax = {}\n\n"
      "[maturity]\nmin_remaining_months = {}\n\n"
      "[allowed]\nstates = {}\nproducts = {}\n",
      min_balance_cents / 100.0, max_balance_cents / 100.0, min_note_rate,
      max_note_rate, min_fico, max_ltv, max_dti, min_term_months,
      max_term_months, min_remaining_months, TomlStrings(allowed_states),
      TomlStrings(allowed_products));
}

}  // namespace pipeline
