// Classify: how a pipeline's end becomes the outcome the broker judges.
#include "runner/outcome.h"

#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include "schemas/vocabulary.h"

namespace {

using common::Code;
using common::Status;
using runner::Classify;
using runner::RunMetrics;
namespace outcome = schemas::outcome;

const common::Result<RunMetrics> kNoFile = Status::Error(Code::kNotFound, "no result file at x");

common::Result<RunMetrics> File(std::int64_t total_loans) {
  RunMetrics m;
  m.total_loans = total_loans;
  m.exceptions_count = 2;
  m.metrics = {{"total_loans", static_cast<double>(total_loans)}};
  return m;
}

TEST_CASE("exit 0 succeeds and carries the result file's metrics") {
  const auto v = Classify(W_EXITCODE(0, 0), "", File(40));
  CHECK(v.outcome == outcome::kSucceeded);
  CHECK(v.exit_code == 0);
  CHECK(v.error.empty());
  CHECK(v.metrics.total_loans == 40);
  CHECK(v.metrics.exceptions_count == 2);
  CHECK(v.warning.empty());
}

TEST_CASE("a success without a result file still succeeds, with a warning") {
  const auto v = Classify(W_EXITCODE(0, 0), "", kNoFile);
  CHECK(v.outcome == outcome::kSucceeded);
  CHECK(v.warning == "no result file at x");
  CHECK(v.metrics.total_loans == -1);
}

TEST_CASE("exit 75 becomes transient") {
  const auto v = Classify(W_EXITCODE(75, 0), "", kNoFile);
  CHECK(v.outcome == outcome::kTransient);
  CHECK(v.exit_code == runner::kExitTempFail);
  CHECK(v.error == "pipeline exited 75 (temporary failure)");
  CHECK(v.warning.empty());  // only a success warns about its result file
}

TEST_CASE("any other exit fails, keeping what the result file reported") {
  for (int code : {1, 2, 74, 76, 127, 255}) {
    CAPTURE(code);
    const auto v = Classify(W_EXITCODE(code, 0), "", File(5));
    CHECK(v.outcome == outcome::kFailed);
    CHECK(v.exit_code == code);
    CHECK(v.error == "pipeline exited " + std::to_string(code));
    CHECK(v.metrics.total_loans == 5);
  }
}

TEST_CASE("death by a signal nobody asked for is transient") {
  const auto v = Classify(SIGSEGV, "", kNoFile);
  CHECK(v.outcome == outcome::kTransient);
  CHECK(v.exit_code == -1);
  CHECK(v.error == "pipeline killed by signal " + std::to_string(SIGSEGV));
}

TEST_CASE("a run we stopped is transient with our reason, however it ended") {
  SUBCASE("killed") {
    const auto v = Classify(SIGKILL, "cancelled", kNoFile);
    CHECK(v.outcome == outcome::kTransient);
    CHECK(v.error == "cancelled");
  }
  SUBCASE("exit 0 after TERM") {
    const auto v = Classify(W_EXITCODE(0, 0), "timed out after 5 s", File(1));
    CHECK(v.outcome == outcome::kTransient);
    CHECK(v.exit_code == 0);
    CHECK(v.error == "timed out after 5 s");
  }
  SUBCASE("exit 1 after TERM") {
    const auto v = Classify(W_EXITCODE(1, 0), "runner shutting down", kNoFile);
    CHECK(v.outcome == outcome::kTransient);
    CHECK(v.error == "runner shutting down");
  }
}

const common::Result<RunMetrics> kInvalidFile =
    Status::Error(Code::kInvalid, "result file invalid: x is a FIFO, not a regular file");

TEST_CASE("an invalid result file fails a run that exited 0, with the file's reason") {
  const auto v = Classify(W_EXITCODE(0, 0), "", kInvalidFile);
  CHECK(v.outcome == outcome::kFailed);
  CHECK(v.exit_code == 0);
  CHECK(v.error == "result file invalid: x is a FIFO, not a regular file");
  CHECK(v.metrics.total_loans == -1);
  CHECK(v.metrics.metrics.empty());
  CHECK(v.warning.empty());
}

TEST_CASE("an invalid result file fails a run that exited non-zero, keeping both reasons") {
  for (int code : {1, runner::kExitTempFail}) {
    CAPTURE(code);
    const auto v = Classify(W_EXITCODE(code, 0), "", kInvalidFile);
    CHECK(v.outcome == outcome::kFailed);
    CHECK(v.error.find("pipeline exited " + std::to_string(code)) == 0);
    CHECK(v.error.find("result file invalid: x is a FIFO") != std::string::npos);
  }
}

TEST_CASE("a run we stopped or a signal killed stays transient whatever its result file") {
  CHECK(Classify(SIGKILL, "cancelled", kInvalidFile).outcome == outcome::kTransient);
  CHECK(Classify(SIGKILL, "cancelled", kInvalidFile).error == "cancelled");
  CHECK(Classify(W_EXITCODE(0, 0), "timed out after 5 s", kInvalidFile).outcome ==
        outcome::kTransient);
  CHECK(Classify(SIGSEGV, "", kInvalidFile).outcome == outcome::kTransient);
  CHECK(Classify(SIGSEGV, "", kInvalidFile).metrics.metrics.empty());
}

TEST_CASE("an unreadable (not JSON) result file still only warns on success") {
  const auto v = Classify(W_EXITCODE(0, 0), "",
                          Status::Error(Code::kCorrupt, "result file x is not a JSON object"));
  CHECK(v.outcome == outcome::kSucceeded);
  CHECK(v.warning == "result file x is not a JSON object");
}

}  // namespace
