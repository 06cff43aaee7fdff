// RocksStore: the Store in RocksDB. The RocksDB types stay in the .cc.
//
// Keys:  r/<run_id>            RunRecord
//        k/<run key>           run_id            (dedup index)
//        t/<team:10>/<run_id>  ""                (per-team history)
//        a/<run_id>            ""                (runs not yet terminal)
//        T/<team:10>           TeamRecord
//        S/<team:10>           TeamStatus
//        e/<seq:20>            LoggedEvent       (event log, for replay)
//        D/<sink>/<seq:20>     DeadLetter        (notifications given up on)
//        M/format              store format, decimal (absent: release 1)
//        M/id, M/incarnation   the store's identity (rocks_open.h)
//        M/incarnation-from    the last seq before the incarnation began
//        M/data-loss/<ms>      what an --accept-data-loss start lost
//        M/runs-archived-through  the last run id the history sweep passed
// An archived run (RunRecord::archived) keeps r/ (its stub) and k/, not t/.
#pragma once

#include <memory>
#include <string>

#include "broker/backups.h"
#include "broker/store.h"
#include "broker/store_check.h"

namespace broker {

// The key holding the store's format. Release 1 wrote none; format 2 names
// scheduled runs by local date only (`sched:<team>:<date>`); format 3 has an
// identity (a database id and an incarnation).
inline constexpr char kStoreFormatKey[] = "M/format";
inline constexpr int kStoreFormat = 3;
inline constexpr char kArchivedThroughKey[] = "M/runs-archived-through";

struct OpenOptions {
  // Every commit waits for the WAL to reach the disk (power-loss safe).
  bool sync = true;
  // Start on whatever survives damage (repairing what RocksDB can), under a
  // new incarnation; data_loss() then says what was accepted.
  bool accept_data_loss = false;
  // Writes stop (kNoSpace, the group kept) while less than this is free on
  // the state folder's filesystem; 0: no check.
  std::uint64_t min_free_bytes = 64ull << 20;
};

class RocksStore final : public Store {
 public:
  // Opens the database in `dir`, creating one only if `dir` is missing or
  // empty; damage is refused with an error naming it (rocks_open.h).
  static common::Result<std::unique_ptr<RocksStore>> Open(const std::string& dir,
                                                          const OpenOptions& options);
  static common::Result<std::unique_ptr<RocksStore>> Open(const std::string& dir, bool sync);
  ~RocksStore() override;
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  // A random id, new whenever the store's history may differ from what was
  // announced before (a restore, an accepted loss).
  const std::string& incarnation() const override;
  std::uint64_t incarnation_from() const override;
  // Empty, or what this open accepted as lost.
  const std::string& data_loss() const;

  common::Status Commit(const Change& change) override;
  void Stage(const Change& change) override;
  common::Status Flush() override;
  common::Result<std::vector<schemas::TeamRecord>> LoadTeams() override;
  common::Result<std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>> LoadTeamStatuses()
      override;
  common::Result<std::vector<schemas::RunRecord>> LoadActiveRuns() override;
  common::Result<schemas::RunRecord> GetRun(const std::string& run_id) override;
  common::Result<std::string> FindRunIdByKey(const std::string& key) override;
  common::Result<std::vector<schemas::RunRecord>> ListRuns(std::optional<std::uint32_t> team,
                                                           std::size_t limit) override;
  common::Result<std::vector<schemas::LoggedEvent>> EventsAfter(std::uint64_t after,
                                                                std::size_t limit) override;
  common::Result<std::size_t> PruneEventsBefore(std::int64_t cutoff_unix_ms,
                                                std::size_t max_count) override;
  common::Result<std::vector<schemas::RunRecord>> RunsAfter(const std::string& after,
                                                            std::size_t limit) override;
  common::Status ArchiveRuns(const std::vector<schemas::RunRecord>& runs,
                             const std::string& through) override;
  common::Result<std::string> RunsArchivedThrough() override;
  common::Result<std::vector<schemas::DeadLetter>> DeadLetters(const std::string& sink,
                                                               std::size_t limit) override;
  common::Result<schemas::DeadLetter> GetDeadLetter(const std::string& sink,
                                                    std::uint64_t seq) override;
  common::Result<std::uint64_t> LastSeq() override;
  common::Result<std::uint64_t> LastRunNumber() override;

  // The consistency check (store_check.h) of what is written, at one
  // snapshot; the staged group is not seen. The high-water mark is not
  // compared: this open already did.
  common::Result<CheckReport> Check();
  // A backup (backups.h) of everything written so far (the staged group is
  // written first) into `backup_dir`, then only the newest `keep` are kept
  // (0: all).
  common::Result<BackupEntry> CreateBackup(const std::string& backup_dir, std::uint32_t keep);

  // The RocksDB handles, defined (and used) only in the .cc.
  struct Db;

 private:
  explicit RocksStore(std::unique_ptr<Db> db);
  common::Result<std::optional<std::string>> LastKeyWithPrefix(const std::string& prefix);

  std::unique_ptr<Db> db_;
};

}  // namespace broker
