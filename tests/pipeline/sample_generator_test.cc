#include "pipeline/sample_generator.h"

#include <doctest/doctest.h>

#include "pipeline/loan_tape_job.h"
#include "tests/pipeline/test_util.h"

namespace pipeline {
namespace {

using testing::ReadFile;
using testing::TempDir;

SampleOptions Sample(const std::string& dir, uint64_t seed) {
  SampleOptions o;
  o.loans = 20000;
  o.date = CivilDate::FromYmd(2026, 12, 1);
  o.seed = seed;
  o.out_dir = dir;
  return o;
}

TEST_CASE("the same seed gives the same bytes and another seed does not") {
  TempDir dir;
  auto a = GenerateSample(Sample(dir / "a", 7));
  auto b = GenerateSample(Sample(dir / "b", 7));
  auto c = GenerateSample(Sample(dir / "c", 8));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  const std::string tape = ReadFile(a.value().tape_path);
  CHECK(tape == ReadFile(b.value().tape_path));
  CHECK(tape != ReadFile(c.value().tape_path));
  CHECK(ReadFile(a.value().grid_path) == ReadFile(c.value().grid_path));
  CHECK(tape.rfind("\xEF\xBB\xBFloan_id,", 0) == 0);
  CHECK(tape.find("\r\n") != std::string::npos);
}

TEST_CASE("a sample tape has about 5% rule breakers and a few malformed rows") {
  TempDir dir;
  auto made = GenerateSample(Sample(dir / "in", 3));
  REQUIRE(made.ok());
  const SampleStats& s = made.value();
  CHECK(s.loans == 20000);
  CHECK(s.rule_breakers > 800);
  CHECK(s.rule_breakers < 1200);
  CHECK(s.malformed_rows == 3);

  JobOptions o;
  o.pdate = o.as_of = CivilDate::FromYmd(2026, 12, 1);
  o.input_dir = dir / "in";
  o.output_dir = dir / "out";
  o.share_dir = dir / "share";
  o.sync = false;
  auto report = RunLoanTapeJob(o);
  REQUIRE(report.ok());
  const JobReport& r = report.value();
  CHECK(r.summary.total.loans == 20000);
  CHECK(r.parse_errors == 3);
  // Every planted breaker fails; a duplicate also fails the row it copies.
  CHECK(r.summary.total.exceptions >= s.rule_breakers);
  CHECK(r.summary.total.exceptions < s.rule_breakers * 12 / 10);
}

}  // namespace
}  // namespace pipeline
