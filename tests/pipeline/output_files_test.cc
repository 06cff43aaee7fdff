// Output files: exact formats and atomic replacement.
#include <doctest/doctest.h>

#include <filesystem>

#include "pipeline/atomic_file.h"
#include "pipeline/loan_tape_job.h"
#include "pipeline/report_files.h"
#include "tests/pipeline/test_util.h"

namespace pipeline {
namespace {

using testing::ListDir;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kRules = R"(
[balance]
min = 50000
max = 1000000
[note_rate]
min = 3.0
max = 9.0
[fico]
min = 620
[ltv]
max = 95
[dti]
max = 45
[term_months]
min = 120
max = 360
[maturity]
min_remaining_months = 12
[allowed]
states = ["CA", "TX"]
products = ["CONF30"]
)";

constexpr const char* kGrid =
    "type,product,rate_min,rate_max,fico_min,fico_max,ltv_min,ltv_max,price\n"
    "base,CONF30,,,,,,,101.250\n";

constexpr const char* kTape =
    "loan_id,state,product,balance,note_rate,fico,ltv,dti,term_months,"
    "maturity_date,borrower\n"
    "\"A,1\",CA,CONF30,200000.00,6.125,740,80.5,36.25,360,2056-11-01,Jo\n"
    "B2,TX,CONF30,100000.10,6.5,600,80,30,360,2056-11-01,\"Smith, "
    "\"\"Al\"\"\"\n";

JobOptions Options(const TempDir& dir) {
  JobOptions o;
  o.pdate = CivilDate::FromYmd(2026, 12, 1);
  o.as_of = o.pdate;
  o.input_dir = dir / "in";
  o.output_dir = dir / "out";
  o.share_dir = dir / "share";
  o.sync = true;
  return o;
}

void WriteInputs(const TempDir& dir) {
  WriteFile(dir / "in/loan_tape_20261130.csv", kTape);
  WriteFile(dir / "in/eligibility_rules_20261101.toml", kRules);
  WriteFile(dir / "in/price_grid_20261201.csv", kGrid);
}

TEST_CASE(
    "the job writes purchase, exceptions and summary files for the pdate") {
  TempDir dir;
  WriteInputs(dir);
  auto report = RunLoanTapeJob(Options(dir));
  REQUIRE(report.ok());
  CHECK(ListDir(dir / "out") ==
        std::vector<std::string>{"exceptions_20261201.csv",
                                 "purchase_20261201.csv"});
  CHECK(ListDir(dir / "share") ==
        std::vector<std::string>{"summary_20261201.csv"});
  // 200,000.00 * 101.250 / 100 = 202,500.00
  CHECK(ReadFile(dir / "out/purchase_20261201.csv") ==
        std::string(kPurchaseHeader) +
            "\"A,1\",CONF30,CA,200000.00,6.125,740,80.50,36.25,360,"
            "2056-11-01,101.250,202500.00\n");
  CHECK(ReadFile(dir / "out/exceptions_20261201.csv") ==
        std::string(kExceptionsHeader) + "3,B2,min_fico,fico,600,>= 620\n");
  const std::string summary = ReadFile(dir / "share/summary_20261201.csv");
  CHECK(summary.find("Smith") == std::string::npos);
  CHECK(summary.find("\"A,1\"") == std::string::npos);
  CHECK(report.value().rules_path ==
        dir / "in/eligibility_rules_20261101.toml");
}

TEST_CASE("a pre-existing output is replaced whole and no temp file is left") {
  TempDir dir;
  WriteInputs(dir);
  const std::string stale(1 << 20, 'x');  // longer than the new file
  WriteFile(dir / "out/purchase_20261201.csv", stale);
  REQUIRE(RunLoanTapeJob(Options(dir)).ok());
  const std::string text = ReadFile(dir / "out/purchase_20261201.csv");
  CHECK(text.rfind(kPurchaseHeader, 0) == 0);
  CHECK(text.find('x') == std::string::npos);
  for (const std::string& d : {dir / "out", dir / "share"}) {
    for (const std::string& name : ListDir(d)) CHECK(name[0] != '.');
  }
}

TEST_CASE("an uncommitted atomic file leaves neither temp nor target behind") {
  TempDir dir;
  {
    auto file = AtomicFile::Create(dir / "x.csv");
    REQUIRE(file.ok());
    file.value()->Append(std::string(3 << 20, 'a'));  // forces real writes
    CHECK(std::filesystem::exists(file.value()->temp_path()));
    CHECK_FALSE(std::filesystem::exists(dir / "x.csv"));
  }
  CHECK(ListDir(dir.path()).empty());
}

TEST_CASE("readers see the old file until the new one is committed") {
  TempDir dir;
  WriteFile(dir / "x.csv", "old\n");
  auto file = AtomicFile::Create(dir / "x.csv");
  REQUIRE(file.ok());
  file.value()->Append(std::string(3 << 20, 'n'));
  CHECK(ReadFile(dir / "x.csv") == "old\n");
  REQUIRE(file.value()->Commit().ok());
  CHECK(ReadFile(dir / "x.csv").size() == (3u << 20));
  CHECK(ListDir(dir.path()) == std::vector<std::string>{"x.csv"});
}

TEST_CASE(
    "a missing required input is a transient failure naming what is missing") {
  TempDir dir;
  WriteFile(dir / "in/loan_tape_20261130.csv", kTape);
  auto report = RunLoanTapeJob(Options(dir));
  REQUIRE_FALSE(report.ok());
  CHECK(report.status().code() == Code::kTempFail);
  const std::string m = report.status().message();  // status() is a copy
  CHECK(m.find("eligibility_rules_{date}.toml") != std::string::npos);
  CHECK(m.find("price_grid_{date}.csv") != std::string::npos);
  CHECK(m.find("loan_tape_{date}.csv") == std::string::npos);
  CAPTURE(m);
  CHECK(m.find(dir / "in") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "out/purchase_20261201.csv"));

  SUBCASE("optional inputs fall back to built-in rules and par pricing") {
    JobOptions o = Options(dir);
    o.require_rules = o.require_grid = false;
    auto ok = RunLoanTapeJob(o);
    REQUIRE(ok.ok());
    CHECK(ok.value().rules_path.empty());
    // Default rules still want FICO >= 620, so only A,1 at par: 200,000.00.
    CHECK(ok.value().summary.total.purchase_cents == 20'000'000);
  }
}

TEST_CASE("a rules file with an unknown key fails the run") {
  TempDir dir;
  WriteInputs(dir);
  WriteFile(dir / "in/eligibility_rules_20261130.toml",
            std::string(kRules) + "[credit]\nmax_fico = 900\n");
  auto report = RunLoanTapeJob(Options(dir));
  REQUIRE_FALSE(report.ok());
  CHECK(report.status().code() == Code::kInvalidInput);
  CHECK(report.status().message().find("unknown key 'credit.max_fico'") !=
        std::string::npos);
}

}  // namespace
}  // namespace pipeline
