#include "pipeline/run_report.h"

#include <fmt/format.h>

namespace pipeline {
namespace {

std::string Dollars(int64_t cents) {
  return fmt::format("{}{}.{:02d}", cents < 0 ? "-" : "",
                     (cents < 0 ? -cents : cents) / 100,
                     (cents < 0 ? -cents : cents) % 100);
}

std::string GroupJson(const GroupTotals& g) {
  return fmt::format(
      "{{\"loans\":{},\"exceptions\":{},\"eligible\":{},"
      "\"eligible_balance\":{},\"purchase_amount\":{},\"wa_note_rate\":{:.4f},"
      "\"wa_fico\":{:.1f},\"wa_ltv\":{:.2f}}}",
      g.loans, g.exceptions, g.eligible, Dollars(g.eligible_balance_cents),
      Dollars(g.purchase_cents), g.WaNoteRate(), g.WaFico(), g.WaLtv());
}

std::string CommonFields(const JobOptions& o) {
  return fmt::format(
      "\"run_id\":{},\"team\":{},\"attempt\":{},\"pdate\":\"{}\","
      "\"as_of\":\"{}\"",
      JsonString(o.run_id), JsonString(o.team), JsonString(o.attempt),
      o.pdate.Iso(), o.as_of.Iso());
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string ResultJson(const JobOptions& o, const JobReport& r,
                       double elapsed_seconds) {
  const GroupTotals& t = r.summary.total;
  std::string rules = "{";
  for (int i = 0; i < kNumRules; ++i) {
    if (r.by_rule[static_cast<size_t>(i)] == 0) continue;
    rules += fmt::format("{}\"{}\":{}", rules.size() > 1 ? "," : "",
                         kRuleNames[i], r.by_rule[static_cast<size_t>(i)]);
  }
  rules += "}";
  std::string products = "{";
  for (const GroupTotals& g : r.summary.by_product) {
    products += fmt::format("{}{}:{}", products.size() > 1 ? "," : "",
                            JsonString(g.name), GroupJson(g));
  }
  products += "}";
  return fmt::format(
      "{{\"status\":\"ok\",{},"
      "\"total_loans\":{},\"exceptions_count\":{},\"eligible_count\":{},"
      "\"eligible_balance\":{},\"purchase_amount\":{},"
      "\"wa_note_rate\":{:.4f},\"wa_fico\":{:.1f},\"wa_ltv\":{:.2f},"
      "\"wa_price\":{:.4f},\"parse_errors\":{},\"duplicate_rows\":{},"
      "\"exception_rows\":{},\"exceptions_by_rule\":{},\"by_product\":{},"
      "\"inputs\":{{\"loan_tape\":{},\"eligibility_rules\":{},"
      "\"price_grid\":{}}},"
      "\"outputs\":{{\"purchase\":{},\"exceptions\":{},\"summary\":{}}},"
      "\"elapsed_seconds\":{:.3f}}}\n",
      CommonFields(o), t.loans, t.exceptions, t.eligible,
      Dollars(t.eligible_balance_cents), Dollars(t.purchase_cents),
      t.WaNoteRate(), t.WaFico(), t.WaLtv(), t.WaPrice(), r.parse_errors,
      r.duplicate_rows, r.exception_rows, rules, products,
      JsonString(r.tape_path), JsonString(r.rules_path),
      JsonString(r.grid_path), JsonString(r.purchase_path),
      JsonString(r.exceptions_path), JsonString(r.summary_path),
      elapsed_seconds);
}

std::string FailureJson(const JobOptions& o, const Status& status) {
  return fmt::format("{{\"status\":\"{}\",{},\"exit_code\":{},\"error\":{}}}\n",
                     status.code() == Code::kTempFail ? "tempfail" : "failed",
                     CommonFields(o), ExitCodeFor(status),
                     JsonString(status.message()));
}

std::string HumanSummary(const JobOptions& o, const JobReport& r,
                         double elapsed_seconds) {
  const GroupTotals& t = r.summary.total;
  std::string out = fmt::format(
      "loan-tape {}{}: {} loans, {} eligible, {} exceptions ({} parse "
      "errors)\n",
      o.pdate.Iso(),
      o.team.empty() ? std::string() : fmt::format(" team {}", o.team), t.loans,
      t.eligible, t.exceptions, r.parse_errors);
  out += fmt::format(
      "  eligible balance {} purchase amount {} (WA price {:.4f}, rate "
      "{:.3f}%, FICO {:.0f}, LTV {:.2f}%)\n",
      Dollars(t.eligible_balance_cents), Dollars(t.purchase_cents), t.WaPrice(),
      t.WaNoteRate(), t.WaFico(), t.WaLtv());
  out +=
      fmt::format("  tape {}\n", r.tape_path.empty() ? "(none)" : r.tape_path);
  out += fmt::format("  wrote {}, {}, {} in {:.2f}s\n", r.purchase_path,
                     r.exceptions_path, r.summary_path, elapsed_seconds);
  return out;
}

}  // namespace pipeline
