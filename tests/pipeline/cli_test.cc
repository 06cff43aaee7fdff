// Runs the built daybreak-pipeline binary to check the contract's exit codes.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "tests/pipeline/test_util.h"

namespace pipeline {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

struct Ran {
  int code;
  std::string out;
  std::string err;
};

// Runs `env ENV... daybreak-pipeline ARGS` with a clean DAYBREAK_* slate.
Ran Run(const TempDir& dir, const std::string& env, const std::string& args) {
  const std::string cmd =
      "env -u DAYBREAK_PDATE -u DAYBREAK_INPUT_DIR -u DAYBREAK_OUTPUT_DIR "
      "-u DAYBREAK_SHARE_DIR -u DAYBREAK_RESULT_FILE -u DAYBREAK_AS_OF -u DAYBREAK_LOCAL_DATE " +
      env + " " + DAYBREAK_PIPELINE_BIN + " " + args + " >" + (dir / "stdout") +
      " 2>" + (dir / "stderr");
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1,
          ReadFile(dir / "stdout"), ReadFile(dir / "stderr")};
}

std::string Env(const TempDir& dir) {
  return "DAYBREAK_RUN_ID=r-42 DAYBREAK_TEAM=blue DAYBREAK_PDATE=2026-12-01 "
         "DAYBREAK_AS_OF=2026-12-01 DAYBREAK_ATTEMPT=2 DAYBREAK_INPUT_DIR=" +
         (dir / "in") + " DAYBREAK_OUTPUT_DIR=" + (dir / "out") +
         " DAYBREAK_SHARE_DIR=" + (dir / "share") +
         " DAYBREAK_RESULT_FILE=" + (dir / "result.json");
}

TEST_CASE(
    "the binary exits 75 and names the patterns and folder when input is "
    "missing") {
  TempDir dir;
  const Ran r = Run(dir, Env(dir), "loan-tape");
  CHECK(r.code == 75);
  CHECK(r.err.find("loan_tape_{date}.csv") != std::string::npos);
  CHECK(r.err.find("price_grid_{date}.csv") != std::string::npos);
  CHECK(r.err.find(dir / "in") != std::string::npos);
  CHECK(ReadFile(dir / "result.json").find("\"status\":\"tempfail\"") !=
        std::string::npos);
}

TEST_CASE("the binary runs the sample end to end and writes the result file") {
  TempDir dir;
  REQUIRE(Run(dir, "",
              "gen-sample --loans 2000 --date 2026-11-30 --seed 5 --out " +
                  (dir / "in"))
              .code == 0);
  const Ran r = Run(dir, Env(dir), "loan-tape");
  CHECK(r.code == 0);
  CHECK(r.out.find("2000 loans") != std::string::npos);
  const std::string json = ReadFile(dir / "result.json");
  for (const char* key :
       {"\"total_loans\":2000,", "\"exceptions_count\":", "\"eligible_count\":",
        "\"eligible_balance\":", "\"purchase_amount\":", "\"run_id\":\"r-42\"",
        "\"team\":\"blue\""}) {
    CAPTURE(key);
    CHECK(json.find(key) != std::string::npos);
  }
  CHECK(ReadFile(dir / "out/purchase_20261201.csv").size() > 1000);
}

TEST_CASE("flags override the environment") {
  TempDir dir;
  REQUIRE(Run(dir, "",
              "gen-sample --loans 10 --date 2026-11-30 --out " +
                  (dir / "elsewhere"))
              .code == 0);
  const Ran r = Run(
      dir, Env(dir),
      "loan-tape --input-dir " + (dir / "elsewhere") + " --pdate 2026-12-02");
  CHECK(r.code == 0);
  CHECK(ReadFile(dir / "out/purchase_20261202.csv").size() > 0);
}

TEST_CASE("the run's local date from the runner picks that date's inputs; --as-of wins") {
  TempDir dir;
  // A backfill of 2026-11-26 in a folder that also holds a newer tape.
  REQUIRE(Run(dir, "", "gen-sample --loans 10 --date 2026-11-26 --out " + (dir / "in")).code == 0);
  REQUIRE(Run(dir, "", "gen-sample --loans 20 --date 2026-12-02 --out " + (dir / "in")).code == 0);
  const std::string env = "DAYBREAK_PDATE=2026-12-01 DAYBREAK_INPUT_DIR=" + (dir / "in") +
                          " DAYBREAK_OUTPUT_DIR=" + (dir / "out") + " DAYBREAK_SHARE_DIR=" +
                          (dir / "share") + " DAYBREAK_RESULT_FILE=" + (dir / "result.json");
  SUBCASE("the run's date") {
    CHECK(Run(dir, env + " DAYBREAK_LOCAL_DATE=2026-11-26", "loan-tape").code == 0);
    CHECK(ReadFile(dir / "result.json").find("\"total_loans\":10,") != std::string::npos);
  }
  SUBCASE("--as-of over the run's date") {
    CHECK(Run(dir, env + " DAYBREAK_LOCAL_DATE=2026-11-26", "loan-tape --as-of 2026-12-02").code == 0);
    CHECK(ReadFile(dir / "result.json").find("\"total_loans\":20,") != std::string::npos);
  }
  SUBCASE("a bad date is a usage error naming it") {
    const Ran r = Run(dir, env + " DAYBREAK_LOCAL_DATE=26/11/2026", "loan-tape");
    CHECK(r.code == 64);
    CHECK(r.err.find("DAYBREAK_LOCAL_DATE") != std::string::npos);
  }
}

TEST_CASE("the binary exits 1 when the tape is not a loan tape") {
  TempDir dir;
  REQUIRE(Run(dir, "",
              "gen-sample --loans 10 --date 2026-11-30 --out " + (dir / "in"))
              .code == 0);
  WriteFile(dir / "in/loan_tape_20261201.csv", "id,amount\n1,2\n");
  const Ran r = Run(dir, Env(dir), "loan-tape");
  CHECK(r.code == 1);
  CHECK(r.err.find("lacks required columns: loan_id") != std::string::npos);
  CHECK(r.err.find("maturity_date") != std::string::npos);
}

TEST_CASE("usage errors exit 64 and --help exits 0") {
  TempDir dir;
  CHECK(Run(dir, "", "loan-tape --bogus").code == 64);
  CHECK(Run(dir, "", "").code == 64);
  const Ran no_pdate = Run(dir,
                           "DAYBREAK_INPUT_DIR=/x DAYBREAK_OUTPUT_DIR=/y "
                           "DAYBREAK_SHARE_DIR=/z",
                           "loan-tape");
  CHECK(no_pdate.code == 64);
  CHECK(no_pdate.err.find("DAYBREAK_PDATE") != std::string::npos);
  CHECK(Run(dir, Env(dir), "loan-tape --pdate 2026-13-01").code == 64);
  CHECK(Run(dir, Env(dir), "loan-tape --required loan_tape,nonsense").code ==
        64);
  const Ran help = Run(dir, "", "loan-tape --help");
  CHECK(help.code == 0);
  CHECK(help.out.find("--input-dir") != std::string::npos);
}

}  // namespace
}  // namespace pipeline
