// CursorFile: round trips, a missing file, a corrupt or unreadable one, and
// a store that cannot finish leaving the old value whole.
#include "notifier/cursor_file.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace {

using common::Code;
using notifier::CursorFile;

bool Mentions(const common::Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a cursor file that does not exist yet reads as 0") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  CHECK_FALSE(cursor.Exists());
  auto seq = cursor.Load();
  REQUIRE(seq.ok());
  CHECK(seq.value() == 0);
  CHECK(cursor.path() == dir.Sub("cursor"));
}

TEST_CASE("a stored cursor reads back, and a later store replaces it") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  REQUIRE(cursor.Store(41).ok());
  CHECK(cursor.Exists());
  CHECK(cursor.Load().value() == 41);
  REQUIRE(cursor.Store(18446744073709551615ull).ok());
  CHECK(cursor.Load().value() == 18446744073709551615ull);
  CHECK_FALSE(std::filesystem::exists(dir.Sub("cursor.tmp")));  // renamed into place

  SUBCASE("a newline written by hand is fine") {
    dir.WriteFile("cursor", "7\n");
    CHECK(cursor.Load().value() == 7);
  }
}

TEST_CASE("a corrupt cursor file is a clear error naming the file and what it holds") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  for (const char* text : {"seven", "12abc", "", "-3", "1 2"}) {
    CAPTURE(text);
    dir.WriteFile("cursor", text);
    auto seq = cursor.Load();
    REQUIRE_FALSE(seq.ok());
    CHECK(seq.status().code() == Code::kCorrupt);
    CHECK(Mentions(seq.status(), dir.Sub("cursor")));
    CHECK(Mentions(seq.status(), std::string("\"") + text + "\""));
  }
}

TEST_CASE("an unreadable cursor file is an error, not a silent replay from 0") {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.Sub("cursor"));  // read() fails with EISDIR, even for root
  CursorFile cursor(dir.Sub("cursor"));
  auto seq = cursor.Load();
  REQUIRE_FALSE(seq.ok());
  CHECK(seq.status().code() == Code::kIoError);
  CHECK(Mentions(seq.status(), dir.Sub("cursor")));
}

TEST_CASE("a store that cannot complete fails clearly and leaves the old value") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  REQUIRE(cursor.Store(5).ok());

  SUBCASE("the scratch file cannot be written") {
    std::filesystem::create_directory(dir.Sub("cursor.tmp"));
    const common::Status s = cursor.Store(6);
    CHECK(s.code() == Code::kIoError);
    CHECK(Mentions(s, dir.Sub("cursor.tmp")));
  }
  SUBCASE("the directory is gone") {
    CursorFile elsewhere(dir.Sub("missing/cursor"));
    const common::Status s = elsewhere.Store(6);
    CHECK(s.code() == Code::kIoError);
    CHECK_FALSE(elsewhere.Exists());
  }
  CHECK(cursor.Load().value() == 5);
}
