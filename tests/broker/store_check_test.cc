// The store consistency check (daybreak-broker --check): a store written by
// the broker is clean, also read beside a live broker; each kind of
// inconsistency written behind its back is one problem naming the keys.
#include "broker/store_check.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <string>

#include "broker/rocks_store.h"
#include "tests/broker/store_fixtures.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

// `runs` runs of team 1, each with one event; the last two still active.
std::unique_ptr<RocksStore> Filled(const std::string& dir, int runs) {
  auto store = RocksStore::Open(dir, OpenOptions{.sync = false});
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  for (int i = 1; i <= runs; ++i) {
    const auto state = i > runs - 2 ? schemas::RunState::kQueued : schemas::RunState::kSucceeded;
    REQUIRE(store.value()->Commit(testing_support::NewRunChange(static_cast<std::uint64_t>(i), state)).ok());
  }
  return std::move(store).value();
}

bool Lists(const CheckReport& report, const std::string& part) {
  for (const std::string& p : report.problems) {
    if (p.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a store the broker wrote checks clean, also beside the broker that holds it open") {
  testing::TempDir dir;
  auto live = Filled(dir.Sub("db"), 12);  // still open: it holds the folder's LOCK
  auto report = CheckStoreFolder(dir.Sub("db"));
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK_MESSAGE(report.value().ok(), report.value().Summary());
  CHECK(report.value().runs == 12);
  CHECK(report.value().run_keys == 12);
  CHECK(report.value().active == 2);
  CHECK(report.value().events == 12);
  CHECK(report.value().last_seq == 12);
  CHECK(report.value().Summary().find("no problems") != std::string::npos);
  // The broker's own store checks the same through its open handle.
  auto own = live->Check();
  REQUIRE(own.ok());
  CHECK(own.value().ok());
}

TEST_CASE("each inconsistency is one problem that names its keys") {
  testing::TempDir dir;
  Filled(dir.Sub("db"), 12).reset();
  {
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::Options(), dir.Sub("db"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const rocksdb::WriteOptions w;
    REQUIRE(db->Delete(w, "k/key-3").ok());                      // a run without its key
    REQUIRE(db->Put(w, "a/" + RunIdFor(99), "").ok());           // active, but no such run
    REQUIRE(db->Put(w, "a/" + RunIdFor(1), "").ok());            // terminal, but active
    REQUIRE(db->Delete(w, "e/00000000000000000006").ok());       // a gap in the event log
    REQUIRE(db->Put(w, "r/" + RunIdFor(5), "not msgpack").ok()); // a record that does not decode
  }
  auto report = CheckStoreFolder(dir.Sub("db"));
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  const CheckReport& r = report.value();
  CHECK_FALSE(r.ok());
  CHECK(Lists(r, "k/key-3 is missing"));
  CHECK(Lists(r, "a/" + RunIdFor(99)));
  CHECK(Lists(r, "is terminal but still in the active index (a/" + RunIdFor(1) + ")"));
  CHECK(Lists(r, "seq 6..6 missing"));
  CHECK(Lists(r, "r/" + RunIdFor(5)));
  CHECK(r.Summary().find("problem") != std::string::npos);
  CHECK(PrintStoreCheck(dir.Sub("db")) == 1);
}

TEST_CASE("a folder that holds no store cannot be checked, and says so") {
  testing::TempDir dir;
  auto missing = CheckStoreFolder(dir.Sub("nowhere"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("not a folder") != std::string::npos);
  std::filesystem::create_directories(dir.Sub("empty"));
  auto empty = CheckStoreFolder(dir.Sub("empty"));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message().find("no database") != std::string::npos);
}

}  // namespace broker
