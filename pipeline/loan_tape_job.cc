#include "pipeline/loan_tape_job.h"

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <system_error>
#include <vector>

#include "pipeline/eligibility_rules.h"
#include "pipeline/input_discovery.h"
#include "pipeline/mapped_file.h"
#include "pipeline/price_grid.h"
#include "pipeline/report_files.h"
#include "pipeline/tape_checker.h"

namespace pipeline {
namespace {

namespace fs = std::filesystem;

Status EnsureDir(const std::string& dir, const char* what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    return Status::Error(Code::kIoError, fmt::format("cannot create {} folder "
                                                     "{}: {}",
                                                     what, dir, ec.message()));
  }
  return Status();
}

}  // namespace

std::string PurchaseFileName(CivilDate pdate) {
  return "purchase_" + pdate.Compact() + ".csv";
}
std::string ExceptionsFileName(CivilDate pdate) {
  return "exceptions_" + pdate.Compact() + ".csv";
}
std::string SummaryFileName(CivilDate pdate) {
  return "summary_" + pdate.Compact() + ".csv";
}

Result<JobReport> RunLoanTapeJob(const JobOptions& o) {
  for (const std::string* p :
       {&o.tape_pattern, &o.rules_pattern, &o.grid_pattern}) {
    Status s = ValidatePattern(*p);
    if (!s.ok()) return s;
  }
  // Discovery: report every missing required input at once.
  struct Input {
    const std::string& pattern;
    bool required;
    std::optional<DatedFile> found;
  };
  Input inputs[] = {{o.tape_pattern, o.require_tape, {}},
                    {o.rules_pattern, o.require_rules, {}},
                    {o.grid_pattern, o.require_grid, {}}};
  std::vector<std::string> missing;
  for (Input& in : inputs) {
    auto found = FindNewestDated(o.input_dir, in.pattern, o.as_of);
    if (!found.ok()) {
      if (found.status().code() != Code::kTempFail) return found.status();
      found = std::optional<DatedFile>();  // the folder is not there yet
    }
    in.found = found.value();
    if (!in.found && in.required) missing.push_back(in.pattern);
  }
  if (!missing.empty()) {
    std::error_code ec;
    return Status::Error(
        Code::kTempFail,
        fmt::format("required input missing: no file matching {} dated on or "
                    "before {} ({{date}} = YYYYMMDD) in input folder {}{}",
                    fmt::join(missing, ", "), o.as_of.Iso(), o.input_dir,
                    fs::is_directory(o.input_dir, ec)
                        ? ""
                        : " (the folder does not exist)"));
  }

  JobReport report;
  EligibilityRules rules = EligibilityRules::Defaults();
  if (inputs[1].found) {
    report.rules_path = inputs[1].found->path;
    auto loaded = EligibilityRules::Load(report.rules_path);
    if (!loaded.ok()) return loaded.status();
    rules = std::move(loaded).value();
  }
  PriceGrid grid = PriceGrid::Par();
  if (inputs[2].found) {
    report.grid_path = inputs[2].found->path;
    auto loaded = PriceGrid::Load(report.grid_path);
    if (!loaded.ok()) return loaded.status();
    grid = std::move(loaded).value();
  }

  MappedFile tape_file;
  std::string_view tape_text;
  std::string no_tape;  // an absent optional tape reads as a bare header
  if (inputs[0].found) {
    report.tape_path = inputs[0].found->path;
    auto mapped = MappedFile::Open(report.tape_path);
    if (!mapped.ok()) return mapped.status();
    tape_file = std::move(mapped).value();
    tape_text = tape_file.data();
  } else {
    for (int f = 0; f < kNumFields; ++f) {
      no_tape += std::string(f ? "," : "") + kFieldNames[f];
    }
    tape_text = no_tape;
  }

  TapeChecker checker(rules, grid, o.pdate);
  CheckedTape tape;
  Status s = checker.Check(tape_text, report.tape_path, &tape);
  if (!s.ok()) return s;
  report.summary = PurchaseSummary::Of(tape);
  report.parse_errors = tape.parse_errors;
  report.duplicate_rows = tape.duplicate_rows;
  report.exception_rows = tape.exceptions.size();
  for (const LoanException& e : tape.exceptions) {
    ++report.by_rule[static_cast<size_t>(e.rule)];
  }

  s = EnsureDir(o.output_dir, "output");
  if (!s.ok()) return s;
  s = EnsureDir(o.share_dir, "share");
  if (!s.ok()) return s;
  report.purchase_path =
      (fs::path(o.output_dir) / PurchaseFileName(o.pdate)).string();
  report.exceptions_path =
      (fs::path(o.output_dir) / ExceptionsFileName(o.pdate)).string();
  report.summary_path =
      (fs::path(o.share_dir) / SummaryFileName(o.pdate)).string();
  s = WriteExceptionsFile(tape, report.exceptions_path, o.sync);
  if (!s.ok()) return s;
  s = WritePurchaseFile(tape, report.purchase_path, o.sync);
  if (!s.ok()) return s;
  s = WriteSummaryFile(report.summary, report.summary_path, o.sync);
  if (!s.ok()) return s;
  return report;
}

}  // namespace pipeline
