// Store: the broker's durable state behind one interface, so the broker's
// logic never sees RocksDB and tests can swap in MemoryStore (with faults).
// Every state change is one Change; a group of them is written as one batch,
// so a crash leaves either all of a change or none of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  // Notifications the notifier gave up on (notifications.*): each replaces
  // any letter of the same sink and seq; then the (sink, seq) listed go.
  std::vector<schemas::DeadLetter> dead_letters;
  std::vector<std::pair<std::string, std::uint64_t>> dead_letters_removed;
};

// "r0000000042": run ids sort in acceptance order.
std::string RunIdFor(std::uint64_t number);

// What an archived run keeps in the store (see RunRecord::archived).
schemas::RunRecord ArchivedStub(const schemas::RunRecord& run);

class Store {
 public:
  virtual ~Store() = default;

  // Writes one change now, as one batch.
  virtual common::Status Commit(const Change& change) = 0;
  // Group commit: Stage adds a change to the pending group; Flush writes the
  // whole group as one batch (one WAL write, one fsync in sync mode). Reads
  // do not see staged changes until Flush (the Journal overlays them).
  // kNoSpace (the disk is full, or below the reserve) writes nothing and
  // keeps the group, to be written by a later Flush once space returns; any
  // other failure drops the group: the caller must stop. With nothing
  // staged, Flush still says kNoSpace while the disk is below the reserve.
  virtual void Stage(const Change& change) = 0;
  virtual common::Status Flush() = 0;

  // The store's incarnation: new whenever its history may differ from what
  // was announced before (a restore, an accepted loss). Every event carries
  // it; an event's id is "<incarnation>:<seq>".
  virtual const std::string& incarnation() const = 0;
  // The last event seq written before this incarnation began: events after
  // it are the incarnation's own.
  virtual std::uint64_t incarnation_from() const = 0;

  virtual common::Result<std::vector<schemas::TeamRecord>> LoadTeams() = 0;
  virtual common::Result<std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>>
  LoadTeamStatuses() = 0;
  // Runs not in a terminal state, in run-id (= acceptance) order.
  virtual common::Result<std::vector<schemas::RunRecord>> LoadActiveRuns() = 0;

  virtual common::Result<schemas::RunRecord> GetRun(const std::string& run_id) = 0;
  // kNotFound when no run has this key.
  virtual common::Result<std::string> FindRunIdByKey(const std::string& key) = 0;
  // Newest first; `team` filters when set.
  virtual common::Result<std::vector<schemas::RunRecord>> ListRuns(
      std::optional<std::uint32_t> team, std::size_t limit) = 0;
  // Events with seq > `after`, oldest first, at most `limit`.
  virtual common::Result<std::vector<schemas::LoggedEvent>> EventsAfter(
      std::uint64_t after, std::size_t limit) = 0;
  // Deletes up to `max_count` log entries logged before `cutoff_unix_ms`,
  // always keeping the newest so the sequence survives a restart. Returns
  // how many went (== max_count: call again for more).
  virtual common::Result<std::size_t> PruneEventsBefore(std::int64_t cutoff_unix_ms,
                                                        std::size_t max_count) = 0;

  // Run history retention. Up to `limit` runs with ids after `after` (""
  // from the first), oldest first.
  virtual common::Result<std::vector<schemas::RunRecord>> RunsAfter(const std::string& after,
                                                                    std::size_t limit) = 0;
  // In one batch: replaces each of `runs` by its stub (ArchivedStub) and
  // takes it out of its team's history, keeping its key index entry, so a
  // due event naming it is still a duplicate; and records `through` as the
  // last run swept.
  virtual common::Status ArchiveRuns(const std::vector<schemas::RunRecord>& runs,
                                     const std::string& through) = 0;
  // The `through` of the latest ArchiveRuns ("" before the first).
  virtual common::Result<std::string> RunsArchivedThrough() = 0;

  // Dead letters, by sink then seq: only `sink`'s unless it is empty, at
  // most `limit` (0: all).
  virtual common::Result<std::vector<schemas::DeadLetter>> DeadLetters(const std::string& sink,
                                                                       std::size_t limit) = 0;
  // kNotFound when `sink` has no letter for `seq`.
  virtual common::Result<schemas::DeadLetter> GetDeadLetter(const std::string& sink,
                                                            std::uint64_t seq) = 0;

  // The highest event seq and run number ever written (0 when empty).
  virtual common::Result<std::uint64_t> LastSeq() = 0;
  virtual common::Result<std::uint64_t> LastRunNumber() = 0;
};

}  // namespace broker
