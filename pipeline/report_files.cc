#include "pipeline/report_files.h"

#include <fmt/format.h>

#include <cstring>

#include "pipeline/atomic_file.h"
#include "pipeline/csv_reader.h"
#include "pipeline/field_parse.h"

namespace pipeline {
namespace {

void AppendGroup(const char* section, const GroupTotals& g, std::string* out) {
  out->append(section);
  out->push_back(',');
  AppendCsvField(g.name, out);
  char buf[256];
  char* p = buf;
  auto sep = [&] { *p++ = ','; };
  sep();
  p = WriteInt(p, static_cast<int64_t>(g.loans));
  sep();
  p = WriteInt(p, static_cast<int64_t>(g.exceptions));
  sep();
  p = WriteInt(p, static_cast<int64_t>(g.eligible));
  sep();
  p = WriteCents(p, g.eligible_balance_cents);
  sep();
  p = WriteCents(p, g.purchase_cents);
  sep();
  p = WriteFixed(p, g.WaNoteRate(), 4);
  sep();
  p = WriteFixed(p, g.WaFico(), 1);
  sep();
  p = WriteFixed(p, g.WaLtv(), 2);
  sep();
  p = WriteFixed(p, g.WaPrice(), 4);
  *p++ = '\n';
  out->append(buf, static_cast<size_t>(p - buf));
}

}  // namespace

Status WritePurchaseFile(const CheckedTape& tape, const std::string& path,
                         bool sync) {
  auto created = AtomicFile::Create(path, sync);
  if (!created.ok()) return created.status();
  AtomicFile& file = *created.value();
  file.Append(kPurchaseHeader);
  for (const Loan& loan : tape.loans) {
    if (!loan.eligible) continue;
    const size_t text =
        loan.id.size() + loan.product.size() + loan.state.size();
    char* const start = file.Reserve(2 * text + 256);
    char* p = WriteCsvField(start, loan.id);
    *p++ = ',';
    p = WriteCsvField(p, loan.product);
    *p++ = ',';
    p = WriteCsvField(p, loan.state);
    *p++ = ',';
    p = WriteCents(p, loan.balance_cents);
    *p++ = ',';
    p = WriteFixed(p, loan.note_rate, 3);
    *p++ = ',';
    p = WriteInt(p, loan.fico);
    *p++ = ',';
    p = WriteFixed(p, loan.ltv, 2);
    *p++ = ',';
    p = WriteFixed(p, loan.dti, 2);
    *p++ = ',';
    p = WriteInt(p, loan.term_months);
    *p++ = ',';
    p = loan.maturity.WriteIso(p);
    *p++ = ',';
    p = WriteMilli(p, loan.price_milli);
    *p++ = ',';
    p = WriteCents(p, PurchaseCents(loan.balance_cents, loan.price_milli));
    *p++ = '\n';
    file.Release(p);
  }
  return file.Commit();
}

Status WriteExceptionsFile(const CheckedTape& tape, const std::string& path,
                           bool sync) {
  auto created = AtomicFile::Create(path, sync);
  if (!created.ok()) return created.status();
  AtomicFile& file = *created.value();
  file.Append(kExceptionsHeader);
  std::string row;
  for (const LoanException& e : tape.exceptions) {
    row.clear();
    row += std::to_string(e.line);
    row += ',';
    AppendCsvField(e.loan_id, &row);
    row += ',';
    row += RuleName(e.rule);
    row += ',';
    row += e.field;
    row += ',';
    AppendCsvField(e.value, &row);
    row += ',';
    AppendCsvField(e.limit, &row);
    row += '\n';
    file.Append(row);
  }
  return file.Commit();
}

Status WriteSummaryFile(const PurchaseSummary& summary, const std::string& path,
                        bool sync) {
  std::string out = kSummaryHeader;
  AppendGroup("total", summary.total, &out);
  for (const GroupTotals& g : summary.by_product)
    AppendGroup("product", g, &out);
  for (const GroupTotals& g : summary.by_state) AppendGroup("state", g, &out);
  return WriteFileAtomically(path, out, sync);
}

}  // namespace pipeline
