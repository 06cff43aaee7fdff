// daybreak-pipeline: the reference pipeline. `loan-tape` runs the loan-tape
// job under the Daybreak pipeline contract; `gen-sample` writes sample inputs.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <sstream>

#include "pipeline/atomic_file.h"
#include "pipeline/loan_tape_job.h"
#include "pipeline/run_report.h"
#include "pipeline/sample_generator.h"

namespace {

using pipeline::CivilDate;

int UsageError(const std::string& message) {
  fmt::print(stderr, "daybreak-pipeline: usage error: {}\n", message);
  return pipeline::kExitUsage;
}

std::optional<CivilDate> ParseDateFlag(const std::string& text) {
  if (text.size() != 10 || text[4] != '-') return std::nullopt;
  return CivilDate::Parse(text);
}

struct LoanTapeFlags {
  pipeline::JobOptions job;
  std::string pdate, as_of, result_file;
  std::string required = "loan_tape,eligibility_rules,price_grid";
  bool no_sync = false;
};

int RunLoanTape(const LoanTapeFlags& flags) {
  pipeline::JobOptions job = flags.job;
  const auto pdate = ParseDateFlag(flags.pdate);
  if (!pdate)
    return UsageError("--pdate / DAYBREAK_PDATE must be YYYY-MM-DD, got '" +
                      flags.pdate + "'");
  job.pdate = *pdate;
  // As of: the flag, else the run's local date from the runner, else today.
  job.as_of = CivilDate::Today();
  const char* run_date = std::getenv("DAYBREAK_LOCAL_DATE");
  const std::string as_of_text =
      !flags.as_of.empty() ? flags.as_of : run_date != nullptr ? std::string(run_date) : "";
  if (!as_of_text.empty()) {
    const auto as_of = ParseDateFlag(as_of_text);
    if (!as_of)
      return UsageError("--as-of / DAYBREAK_AS_OF / DAYBREAK_LOCAL_DATE must be YYYY-MM-DD, got '" +
                        as_of_text + "'");
    job.as_of = *as_of;
  }
  for (auto [value, name] :
       {std::pair{&job.input_dir, "--input-dir / DAYBREAK_INPUT_DIR"},
        std::pair{&job.output_dir, "--output-dir / DAYBREAK_OUTPUT_DIR"},
        std::pair{&job.share_dir, "--share-dir / DAYBREAK_SHARE_DIR"}}) {
    if (value->empty()) return UsageError(std::string(name) + " is required");
  }
  job.require_tape = job.require_rules = job.require_grid = false;
  std::stringstream list(flags.required);
  for (std::string item; std::getline(list, item, ',');) {
    if (item == "loan_tape")
      job.require_tape = true;
    else if (item == "eligibility_rules")
      job.require_rules = true;
    else if (item == "price_grid")
      job.require_grid = true;
    else if (!item.empty() && item != "none")
      return UsageError("unknown input '" + item + "' in --required");
  }
  job.sync = !flags.no_sync;

  const auto started = std::chrono::steady_clock::now();
  auto report = pipeline::RunLoanTapeJob(job);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  if (!report.ok()) {
    const pipeline::Status& s = report.status();
    fmt::print(
        stderr, "daybreak-pipeline: {}: {}\n",
        s.code() == pipeline::Code::kTempFail ? "waiting for input" : "error",
        s.message());
    if (!flags.result_file.empty()) {
      (void)pipeline::WriteFileAtomically(flags.result_file,
                                          pipeline::FailureJson(job, s));
    }
    return pipeline::ExitCodeFor(s);
  }
  if (!flags.result_file.empty()) {
    pipeline::Status s = pipeline::WriteFileAtomically(
        flags.result_file, pipeline::ResultJson(job, report.value(), elapsed),
        job.sync);
    if (!s.ok()) {
      fmt::print(stderr, "daybreak-pipeline: error: {}\n", s.message());
      return pipeline::kExitFailure;
    }
  }
  fmt::print("{}", pipeline::HumanSummary(job, report.value(), elapsed));
  return pipeline::kExitOk;
}

int RunGenSample(pipeline::SampleOptions options, const std::string& date) {
  const auto day = ParseDateFlag(date);
  if (!day) return UsageError("--date must be YYYY-MM-DD, got '" + date + "'");
  options.date = *day;
  auto stats = pipeline::GenerateSample(options);
  if (!stats.ok()) {
    fmt::print(stderr, "daybreak-pipeline: error: {}\n",
               stats.status().message());
    return pipeline::kExitFailure;
  }
  const pipeline::SampleStats& s = stats.value();
  fmt::print(
      "wrote {} loans ({} break a rule, {} malformed rows)\n  {}\n  {}\n  {}\n",
      s.loans, s.rule_breakers, s.malformed_rows, s.tape_path, s.rules_path,
      s.grid_path);
  return pipeline::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{
        "daybreak-pipeline: the Daybreak reference pipeline "
        "(docs/pipeline.md)"};
    app.require_subcommand(1);

    LoanTapeFlags lt;
    CLI::App* loan_tape =
        app.add_subcommand("loan-tape",
                           "Check the newest loan tape and write purchase, "
                           "exceptions and summary files");
    loan_tape->add_option("--run-id", lt.job.run_id, "Run id")
        ->envname("DAYBREAK_RUN_ID");
    loan_tape
        ->add_option("--team", lt.job.team, "Team (empty for the general run)")
        ->envname("DAYBREAK_TEAM");
    loan_tape
        ->add_option("--pdate", lt.pdate, "Purchase date YYYY-MM-DD (required)")
        ->envname("DAYBREAK_PDATE");
    loan_tape->add_option("--attempt", lt.job.attempt, "Attempt number")
        ->envname("DAYBREAK_ATTEMPT");
    loan_tape
        ->add_option("--input-dir", lt.job.input_dir,
                     "Folder with the dated inputs (required)")
        ->envname("DAYBREAK_INPUT_DIR");
    loan_tape
        ->add_option("--output-dir", lt.job.output_dir,
                     "Folder for purchase and exceptions files (required)")
        ->envname("DAYBREAK_OUTPUT_DIR");
    loan_tape
        ->add_option("--share-dir", lt.job.share_dir,
                     "Folder for the shareable summary (required)")
        ->envname("DAYBREAK_SHARE_DIR");
    loan_tape
        ->add_option("--result-file", lt.result_file,
                     "JSON result file to write")
        ->envname("DAYBREAK_RESULT_FILE");
    loan_tape
        ->add_option(
            "--as-of", lt.as_of,
            "Use inputs dated on or before YYYY-MM-DD (default: the run's "
            "DAYBREAK_LOCAL_DATE, else today, local)")
        ->envname("DAYBREAK_AS_OF");
    loan_tape
        ->add_option("--tape-pattern", lt.job.tape_pattern,
                     "Loan tape file pattern; {date} is YYYYMMDD")
        ->envname("DAYBREAK_TAPE_PATTERN")
        ->capture_default_str();
    loan_tape
        ->add_option("--rules-pattern", lt.job.rules_pattern,
                     "Eligibility rules file pattern")
        ->envname("DAYBREAK_RULES_PATTERN")
        ->capture_default_str();
    loan_tape
        ->add_option("--grid-pattern", lt.job.grid_pattern,
                     "Price grid file pattern")
        ->envname("DAYBREAK_GRID_PATTERN")
        ->capture_default_str();
    loan_tape
        ->add_option("--required", lt.required,
                     "Inputs that must exist (else exit 75): comma list of "
                     "loan_tape, eligibility_rules, price_grid, or none")
        ->envname("DAYBREAK_REQUIRED_INPUTS")
        ->capture_default_str();
    loan_tape
        ->add_flag("--no-sync", lt.no_sync,
                   "Skip fsync before renaming outputs into place")
        ->envname("DAYBREAK_NO_SYNC");

    pipeline::SampleOptions sample;
    std::string sample_date;
    CLI::App* gen = app.add_subcommand(
        "gen-sample", "Write a sample loan tape, rules and price grid");
    gen->add_option("--loans", sample.loans, "Number of loans")
        ->capture_default_str();
    gen->add_option("--date", sample_date, "File and purchase date YYYY-MM-DD")
        ->required();
    gen->add_option("--seed", sample.seed, "PRNG seed")->capture_default_str();
    gen->add_option("--out", sample.out_dir, "Output folder")->required();

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e);
      return code == 0 ? 0 : pipeline::kExitUsage;
    }
    if (loan_tape->parsed()) return RunLoanTape(lt);
    return RunGenSample(sample, sample_date);
  } catch (const std::exception& e) {
    fmt::print(stderr, "daybreak-pipeline: internal error: {}\n", e.what());
    return pipeline::kExitFailure;
  }
}
