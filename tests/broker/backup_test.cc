// Backups of the run store: taken from the open store, listed, verified
// (a damaged file is found), thinned to `keep`, and restored into a stopped
// broker's folder, which keeps the replaced folder aside and opens as a new
// incarnation that says where its own events begin.
#include "broker/backups.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "broker/rocks_store.h"
#include "tests/broker/store_fixtures.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<RocksStore> Open(const std::string& dir) {
  auto store = RocksStore::Open(dir, OpenOptions{.sync = false});
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(store).value();
}

// Runs first..last of team 1, one event each (seq = run number).
void AddRuns(RocksStore& store, int first, int last) {
  for (int i = first; i <= last; ++i) {
    Change c = testing_support::NewRunChange(static_cast<std::uint64_t>(i), schemas::RunState::kSucceeded);
    REQUIRE(store.Commit(c).ok());
  }
}

// Flips bytes in the middle of the biggest file under `dir`.
void Damage(const std::string& dir) {
  fs::path biggest;
  std::uintmax_t size = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.file_size() > size && entry.path().filename() != "LATEST_BACKUP") {
      size = entry.file_size();
      biggest = entry.path();
    }
  }
  REQUIRE(size > 16);
  std::fstream f(biggest, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2));
  f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
}

}  // namespace

TEST_CASE("backups are taken from the open store, listed oldest first and verified") {
  testing::TempDir dir;
  auto store = Open(dir.Sub("state"));
  AddRuns(*store, 1, 10);
  auto first = store->CreateBackup(dir.Sub("backups"), 0);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  CHECK(first.value().id == 1);
  CHECK(first.value().last_seq == 10);
  CHECK(first.value().incarnation == store->incarnation());
  CHECK(first.value().files > 0);
  CHECK(first.value().created_unix_ms > 0);
  AddRuns(*store, 11, 15);
  auto second = store->CreateBackup(dir.Sub("backups"), 0);
  REQUIRE(second.ok());
  CHECK(second.value().last_seq == 15);

  auto listed = ListBackups(dir.Sub("backups"));
  REQUIRE(listed.ok());
  REQUIRE(listed.value().size() == 2);
  CHECK(listed.value()[0].id == 1);
  CHECK(listed.value()[1].last_seq == 15);
  auto newest = VerifyBackup(dir.Sub("backups"), 0);
  REQUIRE_MESSAGE(newest.ok(), newest.status().ToString());
  CHECK(newest.value().id == 2);
  CHECK(VerifyBackup(dir.Sub("backups"), 7).status().code() == common::Code::kNotFound);
  CHECK(ListBackups(dir.Sub("none")).value().empty());

  SUBCASE("keep thins them to the newest") {
    auto third = store->CreateBackup(dir.Sub("backups"), 1);
    REQUIRE(third.ok());
    auto left = ListBackups(dir.Sub("backups"));
    REQUIRE(left.value().size() == 1);
    CHECK(left.value()[0].id == third.value().id);
  }
  SUBCASE("a damaged backup file fails verification, naming the backup") {
    store.reset();
    Damage(dir.Sub("backups"));
    bool damaged = false;
    for (std::uint32_t id : {1u, 2u}) {
      auto v = VerifyBackup(dir.Sub("backups"), id);
      if (!v.ok()) {
        damaged = true;
        CHECK(v.status().code() == common::Code::kCorrupt);
        CHECK(v.status().message().find("backup " + std::to_string(id)) != std::string::npos);
      }
    }
    CHECK(damaged);
  }
}

TEST_CASE("a restore keeps the replaced folder aside and opens as a new incarnation") {
  testing::TempDir dir;
  std::string before;
  {
    auto store = Open(dir.Sub("state"));
    before = store->incarnation();
    AddRuns(*store, 1, 10);
    REQUIRE(store->CreateBackup(dir.Sub("backups"), 0).ok());
    AddRuns(*store, 11, 15);  // after the backup: lost by the restore, on purpose

    // Refused while a broker holds the folder; nothing is touched.
    auto refused = RestoreBackup(dir.Sub("backups"), 1, dir.Sub("state"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == common::Code::kRejected);
    CHECK(refused.status().message().find("stop it") != std::string::npos);
    CHECK(store->LastSeq().value() == 15);
  }
  auto restored = RestoreBackup(dir.Sub("backups"), 1, dir.Sub("state"));
  REQUIRE_MESSAGE(restored.ok(), restored.status().ToString());
  CHECK(restored.value().backup.last_seq == 10);
  REQUIRE_FALSE(restored.value().kept_aside.empty());
  {
    auto aside = Open(restored.value().kept_aside);  // the replaced store, whole
    CHECK(aside->LastSeq().value() == 15);
  }
  auto store = Open(dir.Sub("state"));
  CHECK(store->LastSeq().value() == 10);
  CHECK(store->GetRun(RunIdFor(10)).ok());
  CHECK(store->GetRun(RunIdFor(11)).status().code() == common::Code::kNotFound);
  CHECK(store->incarnation() != before);  // events from here get new ids
  CHECK(store->incarnation_from() == 10);
  AddRuns(*store, 11, 11);  // seq 11 again, in the new incarnation
  CHECK(store->LastSeq().value() == 11);
}

}  // namespace broker
