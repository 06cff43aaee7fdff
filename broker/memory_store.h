// MemoryStore: a Store in memory for tests and benchmarks, with switches
// that make writes fail, reads fail, or the disk look full, so the broker's
// behaviour on each storage fault can be tested without a broken disk.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/store.h"

namespace broker {

class MemoryStore final : public Store {
 public:
  // Which operations fail, and how. A failed write changes nothing.
  struct Faults {
    bool fail_writes = false;  // Commit/Flush: kIoError "write failed"
    bool no_space = false;     // Commit/Flush: kNoSpace, writing nothing (Flush keeps the group)
    // The same, but only once there is something to write: the disk fills
    // as a write meets it (an empty Flush still succeeds).
    bool no_space_when_writing = false;
    bool fail_reads = false;   // every read: kIoError "read failed"
  };

  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  Faults& faults() { return faults_; }
  // Writes that reached the "disk" (Commit calls and non-empty Flushes).
  std::size_t writes() const { return writes_; }

  // As a restore would: a new incarnation beginning after the last event.
  void set_incarnation(std::string incarnation);
  const std::string& incarnation() const override { return incarnation_; }
  std::uint64_t incarnation_from() const override { return incarnation_from_; }

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

 private:
  common::Status WriteFault() const;
  common::Status ReadFault() const;
  void Apply(const Change& change);

  Faults faults_;
  std::string incarnation_ = "memory";
  std::uint64_t incarnation_from_ = 0;
  std::size_t writes_ = 0;
  std::vector<Change> staged_;
  std::map<std::string, schemas::RunRecord> runs_;
  std::map<std::string, std::string> keys_;
  std::map<std::uint32_t, std::set<std::string>> team_runs_;
  std::set<std::string> active_;
  std::map<std::uint32_t, schemas::TeamRecord> teams_;
  std::map<std::uint32_t, schemas::TeamStatus> statuses_;
  std::map<std::uint64_t, schemas::LoggedEvent> events_;
  std::string archived_through_;
  std::map<std::pair<std::string, std::uint64_t>, schemas::DeadLetter> dead_letters_;
};

}  // namespace broker
