// ReadResultFile's bounds: only a regular file, read without blocking, no
// bigger than the cap, with metrics the broker will accept. Anything else is
// "result file invalid: ...", which Classify turns into a failed run.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include "runner/result_file.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using common::Code;
using runner::ReadResultFile;

constexpr std::string_view kInvalid = "result file invalid: ";

// Checks that the result was refused as invalid; returns its reason ("" if
// it was accepted).
std::string Refusal(const common::Result<runner::RunMetrics>& r) {
  if (r.ok()) {
    FAIL_CHECK("the result file was accepted");
    return "";
  }
  CHECK(r.status().code() == Code::kInvalid);
  CHECK(r.status().message().rfind(kInvalid, 0) == 0);
  return r.status().message();
}

std::string Metrics(int count) {
  std::string json = "{";
  for (int i = 0; i < count; ++i) {
    json += (i ? ", " : "") + std::string("\"m") + std::to_string(i) + "\": " + std::to_string(i);
  }
  return json + "}";
}

TEST_CASE("a FIFO as the result file does not block and fails clearly") {
  testing::TempDir dir;
  const std::string fifo = dir.Sub("result.json");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto read = std::async(std::launch::async, [&] { return ReadResultFile(fifo); });
  const bool returned = read.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  if (!returned) {
    // It blocked in open(): be the writer it waits for, so the test ends.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
  }
  const auto r = read.get();
  REQUIRE_MESSAGE(returned, "ReadResultFile blocked on a FIFO");
  CHECK(Refusal(r).find("not a regular file") != std::string::npos);
}

TEST_CASE("a result file that is a symlink is refused, even to a good file") {
  testing::TempDir dir;
  const std::string target = dir.WriteFile("elsewhere.json", R"({"total_loans": 3})");
  fs::create_symlink(target, dir.Sub("result.json"));
  CHECK(Refusal(ReadResultFile(dir.Sub("result.json"))).find("symlink") != std::string::npos);
}

TEST_CASE("an oversized result file is refused, and one at the cap is read") {
  testing::TempDir dir;
  const auto padded = [](std::size_t size) {
    const std::string head = R"({"total_loans": 1, "note": ")";
    const std::string tail = "\"}";
    return head + std::string(size - head.size() - tail.size(), 'x') + tail;
  };
  const std::string big = dir.WriteFile("big.json", padded(runner::kMaxResultFileBytes + 1));
  CHECK(Refusal(ReadResultFile(big)).find("larger than") != std::string::npos);
  const auto at_cap =
      ReadResultFile(dir.WriteFile("cap.json", padded(runner::kMaxResultFileBytes)));
  REQUIRE_MESSAGE(at_cap.ok(), at_cap.status().message());
  CHECK(at_cap.value().total_loans == 1);
}

TEST_CASE("300 metrics are refused; 64 are read") {
  testing::TempDir dir;
  CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", Metrics(300)))).find("metrics") !=
        std::string::npos);
  const auto ok = ReadResultFile(dir.WriteFile("r.json", Metrics(runner::kMaxMetrics)));
  REQUIRE_MESSAGE(ok.ok(), ok.status().message());
  CHECK(ok.value().metrics.size() == runner::kMaxMetrics);
}

TEST_CASE("the inputs object is read as role -> path, escaped and bounded") {
  testing::TempDir dir;
  const auto r = ReadResultFile(dir.WriteFile("r.json", R"({"total_loans": 3, "inputs": {"loan_tape": "/in/loan_tape_20261201.csv",
      "price_grid": "", "rules": 7, "odd": "a\nb"}})"));
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  // Empty and non-string entries are left out; a control character is escaped.
  CHECK(r.value().inputs == std::map<std::string, std::string>{{"loan_tape", "/in/loan_tape_20261201.csv"}, {"odd", "a\\nb"}});
  CHECK(r.value().metrics.size() == 1);  // "inputs" is not a metric
  // No inputs object, or one that is not an object: none.
  CHECK(ReadResultFile(dir.WriteFile("r.json", R"({"inputs": ["a"]})")).value().inputs.empty());

  std::string many = R"({"inputs": {)";
  for (std::size_t i = 0; i <= runner::kMaxInputs; ++i) many += (i ? "," : "") + std::string("\"i") + std::to_string(i) + "\": \"/x\"";
  CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", many + "}}"))).find("inputs") != std::string::npos);
  const std::string long_path(runner::kMaxInputPathBytes + 1, 'p');
  CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", R"({"inputs": {"tape": ")" + long_path + "\"}}")))
            .find("longer than") != std::string::npos);
  CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", R"({"inputs": {"bad\tkey": "/x"}})"))).find("key") !=
        std::string::npos);
}

TEST_CASE("non-numeric fields do not count against the metrics cap") {
  testing::TempDir dir;
  std::string json = R"({"total_loans": 1)";
  for (int i = 0; i < 300; ++i) json += ", \"s" + std::to_string(i) + "\": \"text\"";
  const auto r = ReadResultFile(dir.WriteFile("r.json", json + "}"));
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r.value().metrics.size() == 1);
}

TEST_CASE("a metric key too long is refused; one of 64 bytes is read") {
  testing::TempDir dir;
  const std::string too_long(runner::kMaxMetricKeyBytes + 1, 'k');
  CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", "{\"" + too_long + "\": 1}")))
            .find("longer than") != std::string::npos);
  const std::string at_cap(runner::kMaxMetricKeyBytes, 'k');
  const auto ok = ReadResultFile(dir.WriteFile("r.json", "{\"" + at_cap + "\": 1}"));
  REQUIRE_MESSAGE(ok.ok(), ok.status().message());
  CHECK(ok.value().metrics.count(at_cap) == 1);
}

TEST_CASE("a metric key that is not printable ASCII is refused") {
  testing::TempDir dir;
  for (const std::string key : {R"(line\nbreak)", R"(tab\there)", "caf\xc3\xa9", ""}) {
    CAPTURE(key);
    CHECK(Refusal(ReadResultFile(dir.WriteFile("r.json", "{\"" + key + "\": 1}")))
              .find("key") != std::string::npos);
  }
}

TEST_CASE("total_loans 1e300 is refused, not stored as INT64_MIN") {
  testing::TempDir dir;
  const std::string reason =
      Refusal(ReadResultFile(dir.WriteFile("r.json", R"({"total_loans": 1e300})")));
  CHECK(reason.find("total_loans") != std::string::npos);
}

TEST_CASE("the counts must be whole, non-negative and within int64") {
  testing::TempDir dir;
  for (const std::string value :
       {"-1", "1.5", "9223372036854775808", "18446744073709551615", "1e19", "-0.5"}) {
    for (const std::string key : {"total_loans", "exceptions_count"}) {
      CAPTURE(key);
      CAPTURE(value);
      const auto r = ReadResultFile(dir.WriteFile("r.json", "{\"" + key + "\": " + value + "}"));
      CHECK(Refusal(r).find(key) != std::string::npos);
    }
  }
  SUBCASE("the largest int64 and a whole number written as a float are read") {
    const auto r = ReadResultFile(dir.WriteFile(
        "r.json", R"({"total_loans": 9223372036854775807, "exceptions_count": 4.0})"));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r.value().total_loans == std::numeric_limits<std::int64_t>::max());
    CHECK(r.value().exceptions_count == 4);
  }
}

TEST_CASE("metric values the JSON reader cannot hold as a finite double are refused") {
  testing::TempDir dir;
  // 1e400 overflows a double: the reader refuses it rather than store inf.
  const auto r = ReadResultFile(dir.WriteFile("r.json", R"({"ratio": 1e400})"));
  REQUIRE_FALSE(r.ok());
  const auto big = ReadResultFile(dir.WriteFile("r.json", R"({"ratio": 1e300})"));
  REQUIRE_MESSAGE(big.ok(), big.status().message());
  CHECK(std::isfinite(big.value().metrics.at("ratio")));
}

TEST_CASE("a deeply nested result file within the cap is read without harm") {
  testing::TempDir dir;
  const std::size_t depth = 30'000;
  const std::string json =
      R"({"total_loans": 2, "deep": )" + std::string(depth, '[') + std::string(depth, ']') + "}";
  REQUIRE(json.size() <= runner::kMaxResultFileBytes);
  const auto r = ReadResultFile(dir.WriteFile("r.json", json));
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r.value().total_loans == 2);
}

}  // namespace
