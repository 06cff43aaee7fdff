// RunManager: the broker's decisions. It dedups due runs by key, keeps one
// active run per team, hands runs to runners, fences results by attempt,
// retries with backoff, raises failure-streak alerts, and commits every
// change to the RunStore before queueing its announcement in the outbox.
// It owns no sockets: the Broker loop feeds it and sends what it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/alert_policy.h"
#include "broker/run_store.h"
#include "broker/runner_table.h"
#include "broker/team_registry.h"
#include "common/clock.h"
#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

struct RetryPolicy {
  std::chrono::milliseconds initial{30'000};
  std::chrono::milliseconds max{900'000};
  bool retry_any_failure = false;  // retry_on = any
};

struct Settings {
  std::chrono::milliseconds misfire_grace{3'600'000};
  RetryPolicy retry;
  std::uint32_t failure_alert_threshold = 3;
  std::chrono::milliseconds no_success_alert{26 * 3'600'000};  // 0: off
  std::chrono::milliseconds event_retention{30LL * 24 * 3'600'000};  // 0: keep all
  std::chrono::milliseconds heartbeat{1000};
  int heartbeat_liveness = 3;
  std::uint64_t jitter_seed = std::random_device{}();
};

// A message the Broker loop must send once the change behind it committed.
struct Outgoing {
  enum class To { kBus, kRunner };
  To to;
  std::string address;  // topic, or runner id
  std::string payload;
};

struct Counters {
  std::uint64_t stale_results = 0;
  std::uint64_t unknown_runs = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t store_errors = 0;
};

// What else a run's state change writes in the same batch.
struct Extras {
  bool new_run = false;
  std::optional<std::pair<std::uint32_t, schemas::TeamStatus>> team_status;
  std::vector<schemas::AlertEvent> alerts;  // seq stamped by Commit
};

// What became of a due event or a trigger.
struct Admission {
  common::Status status;
  schemas::RunRecord run;
  bool duplicate = false;
};

class RunManager {
 public:
  // `store`, `teams` and `clock` must outlive the manager.
  RunManager(RunStore& store, TeamRegistry& teams, const common::Clock& clock,
             Settings settings);
  RunManager(const RunManager&) = delete;
  RunManager& operator=(const RunManager&) = delete;

  // Rebuilds memory from the store: team locks, queues, retry timers, and
  // runs that were out with runners (claimed again by hello, or lost).
  common::Status Load();

  Admission Admit(const schemas::DueEvent& due);
  common::Result<schemas::RunRecord> Cancel(const std::string& run_id);
  // One run per local date from `from` to `to` (inclusive), keyed like the
  // scheduled runs so dates already run are not repeated; they queue and
  // run one at a time. At most `max_days` dates.
  common::Result<std::vector<Admission>> Backfill(std::uint32_t team, const std::string& from,
                                                  const std::string& to, int max_days,
                                                  const std::string& requested_by);
  common::Status PutTeam(const schemas::TeamRecord& request);
  common::Status RemoveTeam(std::uint32_t id);

  void OnRunnerMessage(const std::string& runner_id,
                       const schemas::RunnerMessage& message);
  // Queues a frame that is not a state change (e.g. "due.ack") to go out
  // after the pending group is written.
  void Announce(const std::string& topic, const std::string& payload) { Publish(topic, payload); }
  // Expires silent runners, wakes due retries, dispatches what can go.
  void Tick();
  // When Tick next has something to do.
  common::Clock::Mono NextDeadline() const;

  // Writes every change made since the last call as one batch (group
  // commit), and only then hands over what may be announced. If the write
  // fails it returns nothing and failure() says why: memory is then ahead
  // of the store, so the broker must stop (a restart reloads the truth).
  std::vector<Outgoing> TakeOutbox();
  // Writes pending changes without taking the outbox (before reads that go
  // to the store directly, like the control socket's listings).
  common::Status Persist();
  const common::Status& failure() const { return failure_; }
  const Counters& counters() const { return counters_; }
  std::size_t active_runs() const { return active_.size(); }
  std::size_t runner_count() const { return runners_.size(); }
  std::uint64_t last_seq() const { return next_seq_ - 1; }

 private:
  std::int64_t WallMs() const;
  // Stages `next` with its "run.<event>" log entry (and `extras`) as one
  // change of the pending group, updates memory and queues the announcements.
  void Commit(schemas::RunRecord next, const std::string& event,
                        Extras extras = Extras());
  // Stages a change whose events MakeEvent numbered and queues their
  // announcement (sent only after the group is written).
  void CommitChange(Change change);
  // The newest version of a run: in memory when unfinished or written in the
  // pending group, else from the store.
  common::Result<schemas::RunRecord> FindRun(const std::string& run_id);
  // Raises the no_success alert for teams silent too long.
  void CheckSilentTeams();
  schemas::LoggedEvent MakeEvent(const std::string& topic, std::string payload);
  void Publish(const std::string& topic, const std::string& payload);
  void SendToRunner(const std::string& runner_id, const schemas::BrokerMessage& m);

  void OnHello(const std::string& runner_id, const schemas::RunnerMessage& m);
  void OnStarted(const std::string& runner_id, const schemas::RunnerMessage& m);
  void OnResult(const std::string& runner_id, const schemas::RunnerMessage& m);
  // The attempt ended without a usable result (runner lost, timeout...).
  void EndAttempt(const std::string& run_id, const std::string& outcome,
                  const schemas::RunnerMessage* result, const std::string& error);
  void LoseRunnerRuns(const RunnerTable::Runner& runner, const std::string& why);
  void ReleaseTeam(std::uint32_t team, const std::string& run_id);
  // Starts, once per local date, each team whose every `after` team has
  // now succeeded for `upstream`'s local date.
  void StartDependents(const schemas::RunRecord& upstream);
  bool SucceededOn(std::uint32_t team, const std::string& local_date);
  void Dispatch();
  // The team's retry policy: its own settings over the configured ones.
  RetryPolicy RetryPolicyOf(std::uint32_t team) const;
  std::chrono::milliseconds Backoff(const RetryPolicy& policy, std::uint32_t attempt);
  std::string NextRunId();

  RunStore& store_;
  TeamRegistry& teams_;
  const common::Clock& clock_;
  Settings settings_;
  std::mt19937_64 jitter_;

  std::uint64_t next_seq_ = 1;
  std::uint64_t next_run_number_ = 1;
  std::unordered_map<std::string, schemas::RunRecord> active_;  // not terminal
  std::unordered_map<std::uint32_t, std::string> team_lock_;     // team -> run
  std::unordered_map<std::uint32_t, std::deque<std::string>> team_queue_;
  std::deque<std::string> ready_;                       // waiting for a slot
  std::multimap<std::int64_t, std::string> retry_at_;   // wall ms -> run
  std::map<std::string, common::Clock::Mono> unclaimed_;  // after restart
  std::unordered_map<std::uint32_t, schemas::TeamStatus> team_status_;
  RunnerTable runners_;
  common::Clock::Mono next_heartbeat_{};
  common::Clock::Mono next_silence_check_{};
  common::Clock::Mono next_prune_{};
  std::int64_t loaded_at_ms_ = 0;
  AlertPolicy alerts_;
  std::vector<Outgoing> outbox_;
  // The pending group's runs and keys, so reads see what is not yet written.
  std::unordered_map<std::string, schemas::RunRecord> staged_runs_;
  std::unordered_map<std::string, std::string> staged_keys_;
  common::Status failure_;
  Counters counters_;
};

}  // namespace broker
