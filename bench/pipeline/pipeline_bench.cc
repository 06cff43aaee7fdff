// pipeline_bench: end-to-end loan-tape throughput. Generates a sample tape
// (1,000,000 loans by default) with gen-sample's code, then times the whole
// job (discover, read, check, price, write all outputs) several times and
// prints loans/s as median, min and max.
//
// Usage: pipeline_bench [loans] [runs] [--no-sync]
#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/loan_tape_job.h"
#include "pipeline/sample_generator.h"

int main(int argc, char** argv) {
  uint64_t loans = 1'000'000;
  int runs = 5;
  bool sync = true;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-sync") == 0) {
      sync = false;
    } else if (positional++ == 0) {
      loans = std::strtoull(argv[i], nullptr, 10);
    } else {
      runs = std::max(1, std::atoi(argv[i]));
    }
  }

  char dir_template[] = "/tmp/pipeline_bench.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    fmt::print(stderr, "cannot create a temp folder\n");
    return 1;
  }
  const std::filesystem::path root(dir_template);
  const pipeline::CivilDate day = pipeline::CivilDate::FromYmd(2026, 12, 1);

  pipeline::SampleOptions sample;
  sample.loans = loans;
  sample.date = day;
  sample.seed = 42;
  sample.out_dir = (root / "in").string();
  const auto gen_start = std::chrono::steady_clock::now();
  auto generated = pipeline::GenerateSample(sample);
  const double gen_s = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - gen_start)
                           .count();
  if (!generated.ok()) {
    fmt::print(stderr, "gen-sample failed: {}\n", generated.status().message());
    return 1;
  }
  fmt::print("generated {} loans ({:.1f} MB) in {:.2f}s ({:.0f} loans/s)\n",
             loans,
             std::filesystem::file_size(generated.value().tape_path) / 1e6,
             gen_s, loans / gen_s);

  pipeline::JobOptions job;
  job.pdate = day;
  job.as_of = day;
  job.input_dir = sample.out_dir;
  job.output_dir = (root / "out").string();
  job.share_dir = (root / "share").string();
  job.sync = sync;

  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    auto report = pipeline::RunLoanTapeJob(job);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (!report.ok()) {
      fmt::print(stderr, "run failed: {}\n", report.status().message());
      return 1;
    }
    if (r == 0) {
      const auto& t = report.value().summary.total;
      fmt::print("checked {} loans: {} eligible, {} exceptions\n", t.loans,
                 t.eligible, t.exceptions);
    }
    rates.push_back(static_cast<double>(loans) / s);
    fmt::print("run {}: {:.3f}s, {:.0f} loans/s\n", r + 1, s, rates.back());
  }
  std::sort(rates.begin(), rates.end());
  fmt::print(
      "end to end ({}fsync, {} runs): median {:.0f} loans/s, min {:.0f}, "
      "max {:.0f}\n",
      sync ? "" : "no ", runs, rates[rates.size() / 2], rates.front(),
      rates.back());
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
