#include "pipeline/input_discovery.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/pipeline/test_util.h"

namespace pipeline {
namespace {

using testing::TempDir;
using testing::WriteFile;

const CivilDate kAsOf = CivilDate::FromYmd(2026, 12, 1);

TEST_CASE("discovery picks the newest file dated on or before the as-of date") {
  TempDir dir;
  WriteFile(dir / "loan_tape_20261115.csv", "x");
  WriteFile(dir / "loan_tape_20261130.csv", "x");
  WriteFile(dir / "loan_tape_20261201.csv", "x");
  WriteFile(dir / "loan_tape_20261202.csv", "x");  // after as-of: ignored
  auto found = FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf);
  REQUIRE(found.ok());
  REQUIRE(found.value().has_value());
  CHECK(found.value()->path == dir / "loan_tape_20261201.csv");
  CHECK(found.value()->date == kAsOf);

  SUBCASE("an earlier as-of date picks an earlier file") {
    auto earlier = FindNewestDated(dir.path(), "loan_tape_{date}.csv",
                                   CivilDate::FromYmd(2026, 11, 29));
    REQUIRE(earlier.ok());
    CHECK(earlier.value()->path == dir / "loan_tape_20261115.csv");
  }
}

TEST_CASE("an input that is a link out of the folder is refused by name; a link within it is read") {
  TempDir dir;
  TempDir elsewhere;
  WriteFile(dir / "loan_tape_20261115.csv", "x");
  WriteFile(elsewhere / "their_tape.csv", "theirs");
  SUBCASE("out of the folder") {
    std::filesystem::create_symlink(elsewhere / "their_tape.csv", dir / "loan_tape_20261130.csv");
    auto found = FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf);
    REQUIRE_FALSE(found.ok());
    CHECK(found.status().code() == Code::kInvalidInput);
    CHECK(found.status().message().find("loan_tape_20261130.csv is a link to") != std::string::npos);
    CHECK(found.status().message().find("outside the input folder") != std::string::npos);
  }
  SUBCASE("up and out through ..") {
    std::filesystem::create_symlink("../" + std::filesystem::path(elsewhere.path()).filename().string() + "/their_tape.csv",
                                    dir / "loan_tape_20261130.csv");
    CHECK_FALSE(FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf).ok());
  }
  SUBCASE("within the folder") {
    std::filesystem::create_symlink("loan_tape_20261115.csv", dir / "loan_tape_20261130.csv");
    auto found = FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf);
    REQUIRE(found.ok());
    CHECK(found.value()->path == dir / "loan_tape_20261130.csv");
  }
}

TEST_CASE("discovery ignores names that only look dated") {
  TempDir dir;
  WriteFile(dir / "loan_tape_20261130.csv", "x");
  WriteFile(dir / "loan_tape_20261131.csv", "x");  // not a real date
  WriteFile(dir / "loan_tape_2026120.csv", "x");   // 7 digits
  WriteFile(dir / "loan_tape_20261201.csv.bak", "x");
  WriteFile(dir / "xloan_tape_20261201.csv", "x");
  std::filesystem::create_directory(dir / "loan_tape_20261201.csv.d");
  std::filesystem::create_directory(dir / "loan_tape_20261129.csv");  // a dir
  auto found = FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf);
  REQUIRE(found.ok());
  REQUIRE(found.value().has_value());
  CHECK(found.value()->path == dir / "loan_tape_20261130.csv");
}

TEST_CASE(
    "discovery finds nothing when every file is newer than the as-of date") {
  TempDir dir;
  WriteFile(dir / "loan_tape_20261202.csv", "x");
  auto found = FindNewestDated(dir.path(), "loan_tape_{date}.csv", kAsOf);
  REQUIRE(found.ok());
  CHECK_FALSE(found.value().has_value());
}

TEST_CASE("a missing input folder is a transient failure") {
  TempDir dir;
  auto found = FindNewestDated(dir / "not-yet", "loan_tape_{date}.csv", kAsOf);
  REQUIRE_FALSE(found.ok());
  CHECK(found.status().code() == Code::kTempFail);
}

TEST_CASE("custom patterns work and bad patterns are usage errors") {
  TempDir dir;
  WriteFile(dir / "team7-tape.20261101.txt", "x");
  auto found = FindNewestDated(dir.path(), "team7-tape.{date}.txt", kAsOf);
  REQUIRE(found.ok());
  CHECK(found.value().has_value());
  CHECK(ValidatePattern("loan_tape.csv").code() == Code::kUsage);
  CHECK(ValidatePattern("{date}_{date}.csv").code() == Code::kUsage);
  CHECK(ValidatePattern("sub/{date}.csv").code() == Code::kUsage);
  CHECK(ValidatePattern("x_{date}.csv").ok());
}

}  // namespace
}  // namespace pipeline
