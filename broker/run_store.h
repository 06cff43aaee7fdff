// RunStore: the broker's RocksDB. Every state change is one WriteBatch (run
// record, indexes, team tally, event-log entries), so a crash leaves either
// all of a change or none of it.
//
// Keys:  r/<run_id>            RunRecord
//        k/<run key>           run_id            (dedup index)
//        t/<team:10>/<run_id>  ""                (per-team history)
//        a/<run_id>            ""                (runs not yet terminal)
//        T/<team:10>           TeamRecord
//        S/<team:10>           TeamStatus
//        e/<seq:20>            LoggedEvent       (event log, for replay)
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

// Everything one state change writes, committed together.
struct Change {
  std::optional<schemas::RunRecord> run;
  bool new_run = false;  // also write the key and team indexes
  std::optional<schemas::TeamRecord> team_put;
  std::optional<std::uint32_t> team_remove;
  std::optional<std::pair<std::uint32_t, schemas::TeamStatus>> team_status;
  std::vector<schemas::LoggedEvent> events;
};

bool IsTerminalState(const std::string& state);

class RunStore {
 public:
  // Opens (creating if needed) the database in `dir`. With `sync`, every
  // commit waits for the WAL to reach the disk (power-loss safe).
  static common::Result<std::unique_ptr<RunStore>> Open(const std::string& dir,
                                                        bool sync);
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  // Writes one change now, as one batch.
  common::Status Commit(const Change& change);
  // Group commit: Stage adds a change to the pending group; Flush writes the
  // whole group as one batch (one WAL write, one fsync in sync mode). Reads
  // do not see staged changes until Flush.
  void Stage(const Change& change);
  common::Status Flush();
  bool has_staged() const { return staged_.Count() > 0; }

  common::Result<std::vector<schemas::TeamRecord>> LoadTeams();
  common::Result<std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>>
  LoadTeamStatuses();
  // Runs not in a terminal state, in run-id (= acceptance) order.
  common::Result<std::vector<schemas::RunRecord>> LoadActiveRuns();

  common::Result<schemas::RunRecord> GetRun(const std::string& run_id);
  // kNotFound when no run has this key.
  common::Result<std::string> FindRunIdByKey(const std::string& key);
  // Newest first; `team` filters when set.
  common::Result<std::vector<schemas::RunRecord>> ListRuns(
      std::optional<std::uint32_t> team, std::size_t limit);
  // Events with seq > `after`, oldest first, at most `limit`.
  common::Result<std::vector<schemas::LoggedEvent>> EventsAfter(
      std::uint64_t after, std::size_t limit);
  // Deletes up to `max_count` log entries logged before `cutoff_unix_ms`,
  // always keeping the newest so the sequence survives a restart. Returns
  // how many went (== max_count: call again for more).
  common::Result<std::size_t> PruneEventsBefore(std::int64_t cutoff_unix_ms,
                                                std::size_t max_count = SIZE_MAX);

  // The highest event seq and run number ever written (0 when empty).
  std::uint64_t LastSeq();
  std::uint64_t LastRunNumber();

  static std::string RunIdFor(std::uint64_t number);

 private:
  RunStore(std::unique_ptr<rocksdb::DB> db, bool sync);
  std::optional<std::string> LastKeyWithPrefix(const std::string& prefix);

  static void AddToBatch(const Change& change, rocksdb::WriteBatch& batch);

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
  rocksdb::WriteBatch staged_;
};

}  // namespace broker
