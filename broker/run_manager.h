// RunManager: a run's life from `due` to its terminal state. It admits due
// runs (dedup by key, misfire grace, the team's overlap policy), hands
// ready runs to runners with free slots, ends attempts (success, retry with
// backoff, failure, alerts), and starts the runs that wait for others.
// Every state change goes through Transition, which records it in the
// Journal; the Journal writes before anything is announced. It owns no
// sockets: the Broker loop feeds it and sends what TakeOutbox returns.
//
// Follow a run:  Admit -> Transition(accepted|queued|missed|skipped)
//   -> Dispatch -> RunnerProtocol (started, result) -> AttemptEnded
//   -> Transition(retry_wait|succeeded|failed|cancelled) -> next queued run,
//   Dependencies.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/alert_policy.h"
#include "broker/dependencies.h"
#include "broker/event_archive.h"
#include "broker/journal.h"
#include "broker/retry_policy.h"
#include "broker/run_lifecycle.h"
#include "broker/runner_protocol.h"
#include "broker/runner_table.h"
#include "broker/store.h"
#include "broker/team_queue.h"
#include "broker/team_registry.h"
#include "common/clock.h"
#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

class BrokerMetrics;

struct Settings {
  std::chrono::milliseconds misfire_grace{3'600'000};
  RetryPolicy retry;
  std::uint32_t failure_alert_threshold = 3;
  std::chrono::milliseconds no_success_alert{26 * 3'600'000};  // 0: off
  std::chrono::milliseconds event_retention{30LL * 24 * 3'600'000};  // 0: keep all
  // Finished runs accepted longer ago are archived (whole) and kept as
  // stubs that only answer their keys; 0: keep all. Needs the archive.
  std::chrono::milliseconds run_retention{400LL * 24 * 3'600'000};
  std::chrono::milliseconds heartbeat{1000};
  int heartbeat_liveness = 3;
  std::chrono::milliseconds dispatch_timeout{30'000};
  // A dispatched pipeline dies when its runner has not heard from us for
  // `lease` (0: heartbeat x liveness), TERM first and KILL `lease_grace`
  // later; a silent runner's runs are retried no sooner (PROTOCOL.md).
  std::chrono::milliseconds lease{0};
  std::chrono::milliseconds lease_grace{2000};
  std::uint64_t jitter_seed = std::random_device{}();
};

struct Counters {
  std::uint64_t stale_results = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t store_errors = 0;
  std::uint64_t refused_hellos = 0;
  std::uint64_t unstarted_dispatches = 0;
  std::uint64_t redispatches = 0;
};

// What became of a due event or a trigger.
struct Admission {
  common::Status status;
  schemas::RunRecord run;
  bool duplicate = false;
};

class RunManager : private RunLifecycle {
 public:
  // `store`, `teams` and `clock` must outlive the manager.
  RunManager(Store& store, TeamRegistry& teams, const common::Clock& clock, Settings settings);
  RunManager(const RunManager&) = delete;
  RunManager& operator=(const RunManager&) = delete;

  // Rebuilds memory from the store: team locks, queues, retry timers, and
  // runs that were out with runners (claimed again by hello, or lost).
  common::Status Load();
  // Records and announces an alert that is no team's (team 0), e.g. the
  // store's accepted data loss.
  void RaiseAlert(std::string_view kind, const std::string& message);

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

  // A hello also asks the runner to make every team's folders (team_folders.cc).
  void OnRunnerMessage(const std::string& runner_id, const schemas::RunnerMessage& message);
  // Asks `runner_id` (protocol 4 and later) to make `teams`' folders (prepare).
  void SendTeamFolders(const std::string& runner_id, const std::vector<std::uint32_t>& teams);
  // A result frame that did not decode, answered so it is not resent.
  void OnRefusedResult(const std::string& runner_id, const schemas::RunnerMessageHeader& header,
                       const std::string& why) {
    protocol_.OnRefusedResult(runner_id, header, why);
  }
  // The work protocol `runner_id` spoke at hello; nullopt when it is not connected.
  std::optional<std::uint32_t> RunnerProtocolOf(const std::string& runner_id) const {
    const auto it = runners_.all().find(runner_id);
    if (it == runners_.all().end()) return std::nullopt;
    return it->second.protocol;
  }
  // A message that changes no run (log.read), to go out at the next turn.
  void SendToRunnerNow(const std::string& runner_id, schemas::BrokerMessage m) {
    protocol_.SendNow(runner_id, std::move(m));
  }
  std::string NewToken() { return protocol_.NewToken(); }
  // Queues a frame that is not a state change (e.g. "due.ack") to go out
  // after the pending group is written.
  void Announce(std::string_view topic, std::string payload) { journal_.Publish(topic, std::move(payload)); }
  // Expires silent runners, wakes due retries, housekeeping, dispatches.
  void Tick();
  // When Tick next has something to do.
  common::Clock::Mono NextDeadline() const;

  // Writes every change made since the last call as one batch (group
  // commit), and only then hands over what may be announced. If the write
  // fails it returns nothing and failure() says why: memory is then ahead
  // of the store, so the broker must stop (a restart reloads the truth).
  std::vector<Outgoing> TakeOutbox() { return journal_.TakeOutbox(); }
  // Writes pending changes without taking the outbox.
  common::Status Persist() { return journal_.Persist(); }
  const common::Status& failure() const { return journal_.failure(); }
  // Not OK while the disk is full: the broker then takes no new work.
  const common::Status& no_space() const { return journal_.no_space(); }
  // Events pruned by retention go to `archive` first (nullptr: none kept);
  // it must outlive the manager.
  void set_event_archive(const EventArchive* archive) { archive_ = archive; }
  // Runs are counted into `metrics` as they change (nullptr: not at all);
  // set it before Load, which seeds the per-team gauges. It must outlive
  // the manager.
  void set_metrics(BrokerMetrics* metrics) { metrics_ = metrics; }
  Counters counters() const;
  std::size_t active_runs() const { return active_.size(); }
  // Active runs waiting behind their team's run (state queued).
  std::size_t queued_runs() const;
  std::size_t runner_count() const { return runners_.size(); }
  // A reload's retry defaults (backoff, retry_on): for retries decided from
  // now on. Call on the loop's thread.
  void SetRetryDefaults(const RetryPolicy& retry) { settings_.retry = retry; }
  // A reload's team defaults (max attempts, overlap, purchase day): for
  // runs admitted from now on. Call on the loop's thread.
  void SetTeamDefaults(TeamDefaults defaults) { teams_.SetDefaults(std::move(defaults)); }
  // Every runner connected: its slots, the runs it holds, when last heard.
  std::vector<schemas::RunnerSummary> RunnerSummaries() const;
  // A team's failure streak and last success (zeros for a team with no
  // finished run yet).
  schemas::TeamTally TallyOf(std::uint32_t team) const;
  std::uint64_t last_seq() const { return journal_.last_seq(); }

  // The wall clock as the broker sees it (its clock, with any test offset).
  std::int64_t NowUnixMs() const { return WallMs(); }

 private:
  // RunLifecycle, for the runner protocol.
  const schemas::RunRecord* FindActive(const std::string& run_id) const override;
  void AttemptStarted(const std::string& run_id, const std::string& runner_id,
                      const std::string& log_path) override;
  void AttemptEnded(const std::string& run_id, std::string_view outcome,
                    const schemas::RunnerMessage* result, const std::string& error,
                    std::chrono::milliseconds hold = std::chrono::milliseconds(0)) override;
  void Dispatch() override;

  // The one place a run changes state: records `run` entering `to` with its
  // event, then keeps the team lock, queue and retry timers in step (a run
  // that ends hands its team to the next queued run).
  // Returns the run as recorded.
  schemas::RunRecord Transition(schemas::RunRecord run, schemas::RunState to, Extras extras = Extras());
  // The run as of now: unfinished runs from memory, others through the journal.
  common::Result<schemas::RunRecord> FindRun(const std::string& run_id);
  schemas::RunState AdmittedState(const schemas::DueEvent& due, const schemas::TeamRecord& team,
                                  std::int64_t now_ms, schemas::RunRecord& run) const;
  // Hands `team`'s lock from `run_id` (if it holds it) to its next queued run.
  void ReleaseTeam(std::uint32_t team, const std::string& run_id);
  // At load: gives `team`'s lock back to its latest ended run if that run's
  // lost attempt may still be running (RunRecord::lock_held_until_unix_ms).
  // `unfinished`: how many of the team's runs are active.
  common::Status RestoreLockHold(std::uint32_t team, std::size_t unfinished);
  // Releases the locks of ended runs whose lost attempts' leases ran out.
  void ReleaseExpiredHolds(common::Clock::Mono now);
  // Raises the no_success alert for teams silent too long.
  void CheckSilentTeams();
  void PruneEventLog(common::Clock::Mono now);
  // Archives a slice of the runs past the run retention (store.h, ArchiveRuns).
  void ArchiveRunHistory(common::Clock::Mono now);
  std::int64_t WallMs() const;
  // The monotonic time `wall_ms` is from now (now if it has passed): timers
  // run on the monotonic clock, so a wall-clock step delays or hurries none.
  common::Clock::Mono MonoAt(std::int64_t wall_ms) const;

  TeamRegistry& teams_;
  const common::Clock& clock_;
  Settings settings_;
  BrokerMetrics* metrics_ = nullptr;
  const EventArchive* archive_ = nullptr;
  Store& store_;
  Journal journal_;
  TeamQueue queue_;
  RunnerTable runners_;
  RunnerProtocol protocol_;
  Dependencies dependencies_;
  Backoff backoff_;
  AlertPolicy alerts_;

  std::uint64_t next_run_number_ = 1;
  std::unordered_map<std::string, schemas::RunRecord> active_;  // not terminal
  std::multimap<common::Clock::Mono, std::string> retry_at_;   // due -> run
  // Ended runs whose lost attempt may still be running: each keeps its
  // team's lock until then (run -> team, until). A restarted broker
  // restores those of teams with queued runs (RestoreLockHold).
  std::map<std::string, std::pair<std::uint32_t, common::Clock::Mono>> lock_holds_;
  std::unordered_map<std::uint32_t, schemas::TeamStatus> team_status_;
  common::Clock::Mono next_silence_check_{};
  common::Clock::Mono next_prune_{};
  common::Clock::Mono next_run_archive_{};
  std::int64_t loaded_at_ms_ = 0;
  std::uint64_t duplicates_ = 0;
};

}  // namespace broker
