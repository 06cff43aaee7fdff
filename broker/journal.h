// Journal: the one way broker state is written and read within a loop turn.
// Every change is staged into the pending group with its event-log entries
// (numbered here, with no gaps); every read sees the staged group over the
// store; and nothing leaves the broker (events, acks, dispatches, replies)
// until the group that it reports is written. A failed write is sticky:
// memory is then ahead of the disk, and the broker must stop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/store.h"
#include "common/clock.h"
#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

// A message the Broker loop must send once the change behind it committed.
struct Outgoing {
  enum class To { kBus, kRunner };
  To to;
  std::string address;  // topic, or runner id
  std::string payload;
  // False for a frame that reports nothing newer than what is written (a
  // heartbeat): it goes out even while the pending group waits for space.
  bool after_write = true;
};

// What else a run's state change writes in the same batch.
struct Extras {
  bool new_run = false;
  std::optional<std::pair<std::uint32_t, schemas::TeamStatus>> team_status;
  std::vector<schemas::AlertEvent> alerts;  // seq stamped by the journal
};

class Journal {
 public:
  // `store` and `clock` must outlive the journal.
  Journal(Store& store, const common::Clock& clock);
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Continues the sequence after what the store holds.
  common::Status Load();

  // Stages `run` with its "run.<event>" entry and the alerts of `extras`.
  void RecordRun(const schemas::RunRecord& run, std::string_view event, Extras extras = Extras());
  // Stages a change that is not a run's (a team, a tally with an alert).
  void RecordChange(Change change);
  // Numbers an event-log entry for a change about to be recorded.
  schemas::LoggedEvent MakeEvent(const std::string& topic, std::string payload);
  // Numbers `alert` (seq, incarnation) and makes its event-log entry.
  schemas::LoggedEvent MakeAlert(schemas::AlertEvent alert);
  std::uint64_t next_seq() const { return next_seq_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }

  // Queue a frame that is not a state change (a due.ack, a schedule.changed,
  // a message to a runner) to go out after the pending group is written.
  void Publish(std::string_view topic, std::string payload);
  void SendToRunner(const std::string& runner_id, const schemas::BrokerMessage& message);
  // A message that reports no state change (a heartbeat): sent at the next
  // turn even while writes wait for space.
  void SendToRunnerNow(const std::string& runner_id, const schemas::BrokerMessage& message);

  // Reads through the pending group: what is staged wins over the store.
  common::Result<schemas::RunRecord> GetRun(const std::string& run_id);
  common::Result<std::string> FindRunIdByKey(const std::string& key);
  // The team's newest runs, newest first, staged ones included.
  common::Result<std::vector<schemas::RunRecord>> RecentRuns(std::uint32_t team, std::size_t limit);

  // Writes the pending group as one batch. On failure the error is kept
  // (failure()) and every later call returns it. kNoSpace is not a failure:
  // the group stays pending (no_space() says why) and every Persist tries it
  // again, so the broker resumes by itself when space returns.
  common::Status Persist();
  // Persist, then hand over what may now be announced (on failure nothing;
  // while no space, only what reports no change).
  std::vector<Outgoing> TakeOutbox();
  const common::Status& failure() const { return failure_; }
  const common::Status& no_space() const { return no_space_; }

 private:
  std::int64_t WallMs() const;

  Store& store_;
  const common::Clock& clock_;
  std::uint64_t next_seq_ = 1;
  std::vector<Outgoing> outbox_;
  std::unordered_map<std::string, schemas::RunRecord> staged_runs_;
  std::unordered_map<std::string, std::string> staged_keys_;
  std::unordered_map<std::uint32_t, std::vector<std::string>> staged_new_runs_;  // by team
  common::Status failure_;
  common::Status no_space_;
};

}  // namespace broker
