// A damaged store is never served as truth: each kind of damage is opened
// twice, as a supervisor restarting the broker would, and either refused
// both times with an error that names it, or (with accept_data_loss) opened
// under a new incarnation that says what was lost. A new database is made
// only in an empty folder.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "broker/rocks_open.h"
#include "broker/rocks_store.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

namespace fs = std::filesystem;

schemas::LoggedEvent Event(std::uint64_t seq) {
  schemas::LoggedEvent e;
  e.seq = seq;
  e.topic = "run.accepted";
  e.at_unix_ms = 1000 + static_cast<std::int64_t>(seq);
  const std::string payload(200, 'x');  // the WAL should span several blocks
  e.payload.assign(payload.begin(), payload.end());
  return e;
}

// `runs` committed runs, each with one event, then closed.
void Fill(const std::string& dir, int runs) {
  auto store = RocksStore::Open(dir, OpenOptions{.sync = true});
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  for (int i = 1; i <= runs; ++i) {
    Change c;
    schemas::RunRecord run;
    run.run_id = RunIdFor(static_cast<std::uint64_t>(i));
    run.key = "key-" + std::to_string(i);
    run.team = 1;
    run.kind = "manual";
    run.state = schemas::RunState::kAccepted;
    c.run = run;
    c.new_run = true;
    c.events.push_back(Event(static_cast<std::uint64_t>(i)));
    REQUIRE(store.value()->Commit(c).ok());
  }
}

// Moves everything in the memtable into an SST (what a long-lived broker
// has done with most of its history).
void FlushToSst(const std::string& dir) {
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::Options(), dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
}

std::vector<fs::path> FilesEndingWith(const std::string& dir, const std::string& suffix) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found.push_back(entry.path());
    }
  }
  return found;
}

fs::path OnlyFile(const std::string& dir, const std::string& suffix) {
  auto files = FilesEndingWith(dir, suffix);
  REQUIRE_MESSAGE(files.size() >= 1, "no *" << suffix << " in " << dir);
  std::sort(files.begin(), files.end());
  return files.back();
}

// Opens twice, as two supervisor restarts; both must refuse, naming `damage`.
void RefusedTwice(const std::string& dir, const std::string& damage) {
  for (int start = 1; start <= 2; ++start) {
    CAPTURE(start);
    auto store = RocksStore::Open(dir, OpenOptions{});
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == common::Code::kCorrupt);
    CHECK_MESSAGE(store.status().message().find(damage) != std::string::npos, store.status().message());
    CHECK(store.status().message().find("--accept-data-loss") != std::string::npos);
  }
}

std::size_t RunCount(RocksStore& store) {
  auto runs = store.ListRuns(std::nullopt, 1000);
  REQUIRE(runs.ok());
  return runs.value().size();
}

TEST_CASE("a new folder gets a database with an identity that survives a reopen") {
  testing::TempDir dir;
  std::string incarnation;
  {
    auto store = RocksStore::Open(dir.Sub("db"), OpenOptions{});
    REQUIRE(store.ok());
    incarnation = store.value()->incarnation();
    CHECK(incarnation.size() == 32);
    CHECK(store.value()->data_loss().empty());
  }
  auto again = RocksStore::Open(dir.Sub("db"), OpenOptions{});
  REQUIRE(again.ok());
  CHECK(again.value()->incarnation() == incarnation);
}

TEST_CASE("a deleted CURRENT is refused at every start and no new database is made over the old") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 40);
  FlushToSst(db);
  fs::remove(fs::path(db) / "CURRENT");
  RefusedTwice(db, "CURRENT file is missing");
  CHECK_FALSE(fs::exists(fs::path(db) / "CURRENT"));
  CHECK_FALSE(FilesEndingWith(db, ".sst").empty());  // the old data is still there

  auto repaired = RocksStore::Open(db, OpenOptions{.accept_data_loss = true});
  REQUIRE_MESSAGE(repaired.ok(), repaired.status().ToString());
  CHECK(RunCount(*repaired.value()) == 40);
  CHECK(repaired.value()->data_loss().find("CURRENT") != std::string::npos);
}

TEST_CASE("a deleted MANIFEST is refused at every start") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 10);
  FlushToSst(db);
  for (const fs::path& manifest : FilesEndingWith(db, "")) {
    if (manifest.filename().string().starts_with("MANIFEST-")) fs::remove(manifest);
  }
  RefusedTwice(db, "MANIFEST");
}

TEST_CASE("a deleted or corrupted SST is refused at every start") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 10);
  FlushToSst(db);
  SUBCASE("deleted") {
    fs::remove(OnlyFile(db, ".sst"));
    RefusedTwice(db, "No such file");
  }
  SUBCASE("corrupted") {
    const fs::path sst = OnlyFile(db, ".sst");
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(sst) / 2));
    f.write(std::string(64, '\x5a').data(), 64);
    f.close();
    // RocksDB reads an SST's blocks when it needs them: a full read is what
    // finds the damage; it must never come back as an empty answer.
    auto store = RocksStore::Open(db, OpenOptions{});
    if (store.ok()) {
      auto runs = store.value()->ListRuns(std::nullopt, 1000);
      REQUIRE_FALSE(runs.ok());
      CHECK(runs.status().code() == common::Code::kCorrupt);
    } else {
      CHECK(store.status().code() == common::Code::kCorrupt);
    }
  }
}

TEST_CASE("garbage in the middle of the WAL is refused at every start, not cut off silently") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 80);
  const fs::path wal = OnlyFile(db, ".log");
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(wal) / 2));
    f.write(std::string(64, '\x5a').data(), 64);
  }
  RefusedTwice(db, "Corruption");
}

TEST_CASE("a WAL cut in half is refused at every start: acknowledged events are missing") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 80);
  const fs::path wal = OnlyFile(db, ".log");
  fs::resize_file(wal, fs::file_size(wal) / 2);
  RefusedTwice(db, "events are missing");

  std::string before;
  auto accepted = RocksStore::Open(db, OpenOptions{.accept_data_loss = true});
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().ToString());
  CHECK(accepted.value()->data_loss().find("events are missing") != std::string::npos);
  auto last = accepted.value()->LastSeq();
  REQUIRE(last.ok());
  CHECK(last.value() < 80);
  before = accepted.value()->incarnation();
  accepted.value().reset();
  // The accepted loss is a new incarnation, and the next start is clean.
  auto next = RocksStore::Open(db, OpenOptions{});
  REQUIRE_MESSAGE(next.ok(), next.status().ToString());
  CHECK(next.value()->incarnation() == before);
  CHECK(next.value()->data_loss().empty());
}

TEST_CASE("a store of format 2 is checkpointed beside its folder, then given its identity") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  Fill(db, 5);
  {
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::Options(), db, &raw).ok());
    std::unique_ptr<rocksdb::DB> rdb(raw);
    REQUIRE(rdb->Put(rocksdb::WriteOptions(), kStoreFormatKey, "2").ok());
    REQUIRE(rdb->Delete(rocksdb::WriteOptions(), rocks::kIdKey).ok());
    REQUIRE(rdb->Delete(rocksdb::WriteOptions(), rocks::kIncarnationKey).ok());
  }
  fs::remove(fs::path(db) / rocks::kHighWaterFile);  // format 2 wrote none
  auto store = RocksStore::Open(db, OpenOptions{});
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  CHECK(store.value()->incarnation().size() == 32);
  CHECK(RunCount(*store.value()) == 5);
  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().filename().string().starts_with("db.format-2-")) ++checkpoints;
  }
  CHECK(checkpoints == 1);
}

TEST_CASE("a folder that is not a database and not empty is refused, and left as it was") {
  testing::TempDir dir;
  const std::string db = dir.Sub("db");
  fs::create_directories(db);
  dir.WriteFile("db/notes.txt", "someone's files");
  RefusedTwice(db, "CURRENT file is missing");
  CHECK(FilesEndingWith(db, "").size() == 1);
}

}  // namespace
}  // namespace broker
