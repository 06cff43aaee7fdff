#include "broker/rocks_store.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>
#include <vector>

#include "broker/disk_space.h"
#include "broker/rocks_backup.h"
#include "broker/rocks_check.h"
#include "broker/rocks_keys.h"
#include "broker/rocks_open.h"
#include "schemas/codec.h"
#include "schemas/dead_letter.h"

namespace broker {
namespace {

using common::Code;
using common::Result;
using common::Status;
using rocks::EventKey;
using rocks::FromRocks;
using rocks::RunKey;
using rocks::TeamKey;

// Visits every key with `prefix` in order; `visit` returns false to stop.
template <typename F>
Status Scan(rocksdb::DB& db, const std::string& prefix, F visit) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  return FromRocks(it->status(), "scan");
}

void AddToBatch(const Change& change, rocksdb::WriteBatch& batch) {
  if (change.run) {
    const schemas::RunRecord& run = *change.run;
    batch.Put(RunKey(run.run_id), schemas::Encode(run));
    if (change.new_run) {
      batch.Put("k/" + run.key, run.run_id);
      batch.Put(TeamKey('t', run.team) + "/" + run.run_id, "");
    }
    if (schemas::IsTerminal(run.state)) {
      batch.Delete("a/" + run.run_id);
    } else {
      batch.Put("a/" + run.run_id, "");
    }
  }
  if (change.team_put) batch.Put(TeamKey('T', change.team_put->id), schemas::Encode(*change.team_put));
  if (change.team_remove) batch.Delete(TeamKey('T', *change.team_remove));
  if (change.team_status) {
    batch.Put(TeamKey('S', change.team_status->first), schemas::Encode(change.team_status->second));
  }
  for (const schemas::LoggedEvent& e : change.events) {
    batch.Put(EventKey(e.seq), schemas::Encode(e));
  }
  for (const schemas::DeadLetter& d : change.dead_letters) {
    batch.Put(rocks::DeadLetterKey(d.sink, d.seq), schemas::Encode(d));
  }
  for (const auto& [sink, seq] : change.dead_letters_removed) batch.Delete(rocks::DeadLetterKey(sink, seq));
}

}  // namespace

std::string RunIdFor(std::uint64_t number) { return fmt::format("r{:010}", number); }

schemas::RunRecord ArchivedStub(const schemas::RunRecord& run) {
  schemas::RunRecord stub = run;
  stub.metrics.clear();
  stub.inputs.clear();
  stub.stderr_tail.clear();
  stub.log_path.clear();
  stub.token.clear();
  stub.archived = true;  // the error stays whole: a cut could split a UTF-8 character
  return stub;
}

struct RocksStore::Db {
  Db(rocks::OpenedDb opened, rocks::HighWater water)
      : db(std::move(opened.db)),
        high_water(std::move(water)),
        incarnation(std::move(opened.incarnation)),
        incarnation_from(opened.incarnation_from),
        data_loss(std::move(opened.data_loss)) {}
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
  rocksdb::WriteBatch staged;
  std::uint64_t staged_seq = 0;  // the highest event seq in `staged`
  rocks::HighWater high_water;
  std::string incarnation;
  std::uint64_t incarnation_from = 0;
  std::string data_loss;
  std::string dir;
  std::uint64_t min_free_bytes = 0;
  // RocksDB stopped writing after an ENOSPC (a background error): Resume()
  // before the next write.
  bool must_resume = false;
};

namespace {

// One batch to the disk, unless the disk is (nearly) full: then nothing is
// written and the caller keeps the batch for later. Below the reserve the
// write is not even tried, so RocksDB itself rarely meets ENOSPC.
Status WriteBatchTo(RocksStore::Db& db, rocksdb::WriteBatch& batch, std::uint64_t seq) {
  if (Status s = CheckSpace(db.dir, db.min_free_bytes); !s.ok()) return s;
  if (db.must_resume) {
    if (Status s = FromRocks(db.db->Resume(), "resume writing after the disk filled"); !s.ok()) {
      return Status::Error(Code::kNoSpace, s.message());
    }
    db.must_resume = false;
    spdlog::info("the run store writes again");
  }
  Status s = FromRocks(db.db->Write(db.write_options, &batch), "commit");
  if (s.code() == Code::kNoSpace) db.must_resume = true;
  if (s.ok() && seq > 0) db.high_water.Record(db.incarnation, seq);
  return s;
}

std::uint64_t MaxSeq(const Change& change) {
  std::uint64_t seq = 0;
  for (const schemas::LoggedEvent& e : change.events) seq = std::max(seq, e.seq);
  return seq;
}

}  // namespace

RocksStore::RocksStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
RocksStore::~RocksStore() = default;

Result<std::unique_ptr<RocksStore>> RocksStore::Open(const std::string& dir, bool sync) {
  return Open(dir, OpenOptions{.sync = sync});
}

Result<std::unique_ptr<RocksStore>> RocksStore::Open(const std::string& dir, const OpenOptions& open) {
  rocksdb::Options options;
  options.IncreaseParallelism(2);
  // Small footprint by default: the broker holds little and reads little.
  options.write_buffer_size = 8 << 20;
  options.max_write_buffer_number = 2;
  options.max_open_files = 256;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(16 << 20);
  // Index and filter blocks count against the cache instead of growing
  // outside it with the history (1M runs would otherwise cost tens of MiB).
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  auto opened = rocks::OpenDatabase(options, {.dir = dir, .accept_data_loss = open.accept_data_loss});
  if (!opened.ok()) return opened.status();
  auto high_water = rocks::HighWater::Open(dir);
  if (!high_water.ok()) return high_water.status();
  auto db = std::make_unique<Db>(std::move(opened).value(), std::move(high_water).value());
  db->write_options.sync = open.sync;
  db->dir = dir;
  db->min_free_bytes = open.min_free_bytes;
  return std::unique_ptr<RocksStore>(new RocksStore(std::move(db)));
}

const std::string& RocksStore::incarnation() const { return db_->incarnation; }
std::uint64_t RocksStore::incarnation_from() const { return db_->incarnation_from; }
const std::string& RocksStore::data_loss() const { return db_->data_loss; }

Status RocksStore::Commit(const Change& change) {
  rocksdb::WriteBatch batch;
  AddToBatch(change, batch);
  return WriteBatchTo(*db_, batch, MaxSeq(change));
}

void RocksStore::Stage(const Change& change) {
  AddToBatch(change, db_->staged);
  db_->staged_seq = std::max(db_->staged_seq, MaxSeq(change));
}

Status RocksStore::Flush() {
  // With nothing to write the reserve is still checked, so the broker's
  // no-space state ends when space is back, not when its group happens to
  // be empty.
  if (db_->staged.Count() == 0) return CheckSpace(db_->dir, db_->min_free_bytes);
  Status s = WriteBatchTo(*db_, db_->staged, db_->staged_seq);
  if (s.code() == Code::kNoSpace) return s;  // kept whole for the next Flush
  db_->staged.Clear();
  db_->staged_seq = 0;
  return s;
}

Result<std::vector<schemas::TeamRecord>> RocksStore::LoadTeams() {
  std::vector<schemas::TeamRecord> teams;
  Status bad;
  Status s = Scan(*db_->db, "T/", [&](std::string_view key, std::string_view value) {
    auto team = schemas::DecodeTeamRecord(value);
    if (!team.ok()) {
      bad = Status::Error(Code::kCorrupt, std::string(key) + ": " + team.status().message());
      return false;
    }
    teams.push_back(team.value());
    return true;
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return teams;
}

Result<std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>> RocksStore::LoadTeamStatuses() {
  std::vector<std::pair<std::uint32_t, schemas::TeamStatus>> out;
  Status bad;
  Status s = Scan(*db_->db, "S/", [&](std::string_view key, std::string_view value) {
    auto status = schemas::DecodeTeamStatus(value);
    if (!status.ok()) {
      bad = Status::Error(Code::kCorrupt, std::string(key) + ": " + status.status().message());
      return false;
    }
    out.emplace_back(static_cast<std::uint32_t>(std::stoul(std::string(key.substr(2)))), status.value());
    return true;
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return out;
}

Result<std::vector<schemas::RunRecord>> RocksStore::LoadActiveRuns() {
  std::vector<std::string> ids;
  Status s = Scan(*db_->db, "a/", [&](std::string_view key, std::string_view) {
    ids.emplace_back(key.substr(2));
    return true;
  });
  if (!s.ok()) return s;
  std::vector<schemas::RunRecord> runs;
  for (const std::string& id : ids) {
    auto run = GetRun(id);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(run).value());
  }
  return runs;
}

Result<schemas::RunRecord> RocksStore::GetRun(const std::string& run_id) {
  std::string value;
  Status s = FromRocks(db_->db->Get(rocksdb::ReadOptions(), RunKey(run_id), &value),
                       ("run " + run_id + " not found").c_str());
  if (!s.ok()) return s;
  return schemas::DecodeRunRecord(value);
}

Result<std::string> RocksStore::FindRunIdByKey(const std::string& key) {
  std::string run_id;
  Status s = FromRocks(db_->db->Get(rocksdb::ReadOptions(), "k/" + key, &run_id), "no run with this key");
  if (!s.ok()) return s;
  return run_id;
}

Result<std::vector<schemas::RunRecord>> RocksStore::ListRuns(std::optional<std::uint32_t> team,
                                                           std::size_t limit) {
  const std::string prefix = team ? TeamKey('t', *team) + "/" : "r/";
  std::vector<std::string> ids;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  // Run ids grow with time, so walking the prefix backwards is newest first.
  it->SeekForPrev(prefix + "\xff");
  std::vector<schemas::RunRecord> runs;
  for (; it->Valid() && it->key().starts_with(prefix) && runs.size() < limit; it->Prev()) {
    if (team) {
      ids.emplace_back(it->key().ToStringView().substr(prefix.size()));
      if (ids.size() == limit) break;
      continue;
    }
    auto run = schemas::DecodeRunRecord(it->value().ToStringView());
    if (!run.ok()) return run.status();
    // Archived runs are in the run archive; their stubs only answer keys.
    // The sweep goes in id order, so every run older than a stub is one.
    if (run.value().archived) break;
    runs.push_back(std::move(run).value());
  }
  if (Status s = FromRocks(it->status(), "list runs"); !s.ok()) return s;
  for (const std::string& id : ids) {
    auto run = GetRun(id);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(run).value());
  }
  return runs;
}

Result<std::vector<schemas::RunRecord>> RocksStore::RunsAfter(const std::string& after,
                                                            std::size_t limit) {
  std::vector<schemas::RunRecord> runs;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(RunKey(after)); it->Valid() && it->key().starts_with("r/") && runs.size() < limit;
       it->Next()) {
    if (it->key().ToStringView().substr(2) == after) continue;
    auto run = schemas::DecodeRunRecord(it->value().ToStringView());
    if (!run.ok()) return run.status();
    runs.push_back(std::move(run).value());
  }
  if (Status s = FromRocks(it->status(), "read runs"); !s.ok()) return s;
  return runs;
}

Status RocksStore::ArchiveRuns(const std::vector<schemas::RunRecord>& runs,
                               const std::string& through) {
  // Not through the staged group: these runs ended long ago, so no change
  // in it names them.
  rocksdb::WriteBatch batch;
  for (const schemas::RunRecord& run : runs) {
    batch.Put(RunKey(run.run_id), schemas::Encode(ArchivedStub(run)));
    batch.Delete(TeamKey('t', run.team) + "/" + run.run_id);
  }
  batch.Put(kArchivedThroughKey, through);
  return WriteBatchTo(*db_, batch, 0);  // the reserve and a full disk, as for the journal's
}

Result<std::string> RocksStore::RunsArchivedThrough() {
  std::string through;
  Status s = FromRocks(db_->db->Get(rocksdb::ReadOptions(), kArchivedThroughKey, &through),
                       "runs archived through");
  if (s.code() == Code::kNotFound) return std::string();
  if (!s.ok()) return s;
  return through;
}

Result<std::vector<schemas::LoggedEvent>> RocksStore::EventsAfter(std::uint64_t after,
                                                                std::size_t limit) {
  std::vector<schemas::LoggedEvent> events;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(EventKey(after + 1)); it->Valid() && it->key().starts_with("e/") &&
                                      events.size() < limit;
       it->Next()) {
    auto event = schemas::DecodeLoggedEvent(it->value().ToStringView());
    if (!event.ok()) return event.status();
    events.push_back(std::move(event).value());
  }
  if (Status s = FromRocks(it->status(), "read events"); !s.ok()) return s;
  return events;
}

Result<std::size_t> RocksStore::PruneEventsBefore(std::int64_t cutoff_unix_ms, std::size_t max_count) {
  auto last_seq = LastSeq();
  if (!last_seq.ok()) return last_seq.status();
  const std::uint64_t last = last_seq.value();
  std::uint64_t first_kept = 0;
  std::size_t old = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("e/"); it->Valid() && it->key().starts_with("e/"); it->Next()) {
    auto event = schemas::DecodeLoggedEvent(it->value().ToStringView());
    if (!event.ok()) return event.status();
    first_kept = event.value().seq;
    // Seqs follow time, so the first young entry ends the old ones.
    if (event.value().at_unix_ms >= cutoff_unix_ms || first_kept == last || old == max_count) break;
    ++old;
  }
  if (Status s = FromRocks(it->status(), "read events"); !s.ok()) return s;
  if (old == 0) return std::size_t{0};
  rocksdb::WriteBatch batch;
  batch.DeleteRange(EventKey(0), EventKey(first_kept));
  if (Status s = FromRocks(db_->db->Write(db_->write_options, &batch), "prune events"); !s.ok()) return s;
  return old;
}

Result<std::vector<schemas::DeadLetter>> RocksStore::DeadLetters(const std::string& sink,
                                                                 std::size_t limit) {
  std::vector<schemas::DeadLetter> out;
  Status bad;
  Status s = Scan(*db_->db, sink.empty() ? "D/" : rocks::DeadLetterPrefix(sink),
                  [&](std::string_view key, std::string_view value) {
                    auto letter = schemas::DecodeDeadLetter(value);
                    if (!letter.ok()) {
                      bad = Status::Error(Code::kCorrupt, std::string(key) + ": " + letter.status().message());
                      return false;
                    }
                    out.push_back(std::move(letter).value());
                    return limit == 0 || out.size() < limit;
                  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return out;
}

Result<schemas::DeadLetter> RocksStore::GetDeadLetter(const std::string& sink, std::uint64_t seq) {
  std::string value;
  Status s = FromRocks(db_->db->Get(rocksdb::ReadOptions(), rocks::DeadLetterKey(sink, seq), &value),
                       "no dead letter");
  if (!s.ok()) return s;
  return schemas::DecodeDeadLetter(value);
}

Result<std::optional<std::string>> RocksStore::LastKeyWithPrefix(const std::string& prefix) {
  std::unique_ptr<rocksdb::Iterator> it(db_->db->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(prefix + "\xff");
  if (Status s = FromRocks(it->status(), "find the last key"); !s.ok()) return s;
  if (it->Valid() && it->key().starts_with(prefix)) return std::optional<std::string>(it->key().ToString());
  return std::optional<std::string>();
}

Result<std::uint64_t> RocksStore::LastSeq() {
  auto key = LastKeyWithPrefix("e/");
  if (!key.ok()) return key.status();
  return key.value() ? std::stoull(key.value()->substr(2)) : std::uint64_t{0};
}

Result<CheckReport> RocksStore::Check() { return rocks::CheckDatabase(*db_->db, 0, /*snapshot=*/true); }

Result<BackupEntry> RocksStore::CreateBackup(const std::string& backup_dir, std::uint32_t keep) {
  if (Status s = Flush(); !s.ok()) return s;
  auto last = LastSeq();
  if (!last.ok()) return last.status();
  return rocks::CreateBackupOf(*db_->db, backup_dir, db_->incarnation, last.value(), keep);
}

Result<std::uint64_t> RocksStore::LastRunNumber() {
  auto key = LastKeyWithPrefix("r/");
  if (!key.ok()) return key.status();
  return key.value() ? std::stoull(key.value()->substr(3)) : std::uint64_t{0};  // "r/r0000000042"
}

}  // namespace broker
