// CursorFile: round trips, a missing file, a corrupt or unreadable one, and
// a store that cannot finish leaving the old value whole.
#include "notifier/cursor_file.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace {

using common::Code;
using notifier::CursorFile;
using notifier::CursorPosition;

CursorPosition At(std::uint64_t seq, std::string incarnation = "") { return {std::move(incarnation), seq}; }

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
  CHECK(seq.value().seq == 0);
  CHECK(seq.value().incarnation.empty());
  CHECK(cursor.path() == dir.Sub("cursor"));
}

TEST_CASE("a stored cursor reads back, and a later store replaces it") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  REQUIRE(cursor.Store(At(41, "7f3a09c2")).ok());
  CHECK(cursor.Exists());
  CHECK(dir.ReadFile("cursor") == "7f3a09c2:41");
  CHECK(cursor.Load().value().seq == 41);
  CHECK(cursor.Load().value().incarnation == "7f3a09c2");
  REQUIRE(cursor.Store(At(18446744073709551615ull)).ok());
  CHECK(cursor.Load().value().seq == 18446744073709551615ull);
  CHECK(cursor.Load().value().incarnation.empty());
  CHECK_FALSE(std::filesystem::exists(dir.Sub("cursor.tmp")));  // renamed into place

  SUBCASE("a newline written by hand is fine") {
    dir.WriteFile("cursor", "7\n");
    CHECK(cursor.Load().value().seq == 7);
  }
  SUBCASE("a cursor from before incarnations (a bare seq) still reads") {
    dir.WriteFile("cursor", "12");
    CHECK(cursor.Load().value().seq == 12);
    CHECK(cursor.Load().value().incarnation.empty());
  }
}

TEST_CASE("a corrupt cursor file is a clear error naming the file and what it holds") {
  testing::TempDir dir;
  CursorFile cursor(dir.Sub("cursor"));
  for (const char* text : {"seven", "12abc", "", "-3", "1 2", ":5", "a:", "a b:5", "a:b:5", "x:-1"}) {
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
  REQUIRE(cursor.Store(At(5, "aa")).ok());

  SUBCASE("the scratch file cannot be written") {
    std::filesystem::create_directory(dir.Sub("cursor.tmp"));
    const common::Status s = cursor.Store(At(6, "aa"));
    CHECK(s.code() == Code::kIoError);
    CHECK(Mentions(s, dir.Sub("cursor.tmp")));
  }
  SUBCASE("the directory is gone") {
    CursorFile elsewhere(dir.Sub("missing/cursor"));
    const common::Status s = elsewhere.Store(At(6));
    CHECK(s.code() == Code::kIoError);
    CHECK_FALSE(elsewhere.Exists());
  }
  CHECK(cursor.Load().value().seq == 5);
  CHECK(cursor.Load().value().incarnation == "aa");
}

TEST_CASE("a cursor of another store incarnation resumes where that store's own events begin") {
  using notifier::Rebase;
  using notifier::StoreIdentity;
  // Same store, or a side that does not name one: the seq as it is.
  CHECK(Rebase(At(50, "A"), StoreIdentity{"A", 0}) == 50);
  CHECK(Rebase(At(50), StoreIdentity{"B", 20}) == 50);
  CHECK(Rebase(At(50, "A"), StoreIdentity{"", 0}) == 50);
  // A store restored to seq 20 (or rebuilt after a loss there): its events
  // after 20 are new even where their seqs are ones delivered before.
  CHECK(Rebase(At(50, "A"), StoreIdentity{"B", 20}) == 20);
  // A cursor still behind where the new store began loses nothing.
  CHECK(Rebase(At(10, "A"), StoreIdentity{"B", 20}) == 10);
}
