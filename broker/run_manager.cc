#include "broker/run_manager.h"

#include "broker/metrics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "common/team.h"
#include "common/text.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace broker {

using common::Code;
using common::Result;
using common::Status;
using schemas::RunRecord;
using schemas::RunState;
namespace kind = schemas::kind;

namespace {

// What a run record keeps of its attempt's log (runners send at most this).
constexpr std::size_t kStderrTailBytes = 4096;

std::string Describe(const RunRecord& run) {
  return run.run_id + " (" + common::TeamLabel(run.team) + ", " + run.key + ")";
}

}  // namespace

RunManager::RunManager(Store& store, TeamRegistry& teams, const common::Clock& clock,
                       Settings settings)
    : teams_(teams), clock_(clock), settings_(settings), store_(store), journal_(store, clock),
      protocol_(*this, runners_, journal_, clock,
                {settings.heartbeat, settings.heartbeat_liveness, settings.dispatch_timeout,
                 settings.lease, settings.lease_grace}),
      dependencies_(teams, journal_), backoff_(settings.jitter_seed),
      alerts_(settings.failure_alert_threshold, settings.no_success_alert) {}

std::int64_t RunManager::WallMs() const { return common::ToUnixMs(clock_.WallNow()); }

common::Clock::Mono RunManager::MonoAt(std::int64_t wall_ms) const {
  return clock_.Now() + std::chrono::milliseconds(std::max<std::int64_t>(0, wall_ms - WallMs()));
}

std::size_t RunManager::queued_runs() const {
  return static_cast<std::size_t>(std::count_if(active_.begin(), active_.end(), [](const auto& entry) {
    return entry.second.state == RunState::kQueued;
  }));
}

std::vector<schemas::RunnerSummary> RunManager::RunnerSummaries() const {
  std::vector<schemas::RunnerSummary> out;
  const auto now = clock_.Now();
  for (const auto& [id, runner] : runners_.all()) {
    schemas::RunnerSummary summary;
    summary.runner_id = id;
    summary.slots = runner.slots;
    std::set<std::string> held = runner.runs;  // run ids sort by age: oldest first
    held.insert(runner.reported.begin(), runner.reported.end());
    summary.runs.assign(held.begin(), held.end());
    summary.last_seen_ms_ago =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - runner.last_seen).count();
    out.push_back(std::move(summary));
  }
  return out;
}

schemas::TeamTally RunManager::TallyOf(std::uint32_t team) const {
  schemas::TeamTally tally;
  tally.team = team;
  if (auto it = team_status_.find(team); it != team_status_.end()) {
    tally.consecutive_failures = it->second.consecutive_failures;
    tally.last_success_unix_ms = it->second.last_success_unix_ms;
  }
  return tally;
}

Counters RunManager::counters() const {
  Counters c;
  c.stale_results = protocol_.counters().stale_results;
  c.refused_hellos = protocol_.counters().refused_hellos;
  c.unstarted_dispatches = protocol_.counters().unstarted_dispatches;
  c.redispatches = protocol_.counters().redispatches;
  c.duplicates = duplicates_;
  c.store_errors = failure().ok() ? 0 : 1;
  return c;
}

Status RunManager::Load() {
  if (Status s = journal_.Load(); !s.ok()) return s;
  auto teams = store_.LoadTeams();
  if (!teams.ok()) return teams.status();
  teams_.Load(teams.value());
  auto last_run = store_.LastRunNumber();
  if (!last_run.ok()) return last_run.status();
  next_run_number_ = last_run.value() + 1;
  if (teams_.Find(common::kGeneralTeam) == nullptr) {
    schemas::TeamRecord general;
    general.id = common::kGeneralTeam;
    general.name = "general";
    if (Status s = PutTeam(general); !s.ok()) return s;
  }
  auto statuses = store_.LoadTeamStatuses();
  if (!statuses.ok()) return statuses.status();
  for (const auto& [team, status] : statuses.value()) {
    team_status_[team] = status;
    if (metrics_ != nullptr) metrics_->Seed(team, status);
  }

  auto runs = store_.LoadActiveRuns();
  if (!runs.ok()) return runs.status();
  for (RunRecord& run : runs.value()) {
    const std::string id = run.run_id;
    const auto holder = queue_.Holder(run.team);
    if (run.state == RunState::kQueued) {
      queue_.Enqueue(run.team, id);
    } else if (holder) {
      spdlog::error("run {} holds the lock of {} already held by {}; queueing it", id,
                    common::TeamLabel(run.team), *holder);
      queue_.Enqueue(run.team, id);
    } else {
      queue_.Lock(run.team, id);
      if (run.state == RunState::kAccepted) queue_.MarkReady(id);
      if (run.state == RunState::kRetryWait) retry_at_.emplace(MonoAt(run.next_attempt_unix_ms), id);
      // A runner that held it when we stopped gets a few heartbeats to say so.
      if (schemas::IsOut(run.state)) protocol_.ExpectClaim(id, run.attempt);
    }
    active_[id] = std::move(run);
  }
  // A run's end and the promotion of its team's next queued run are two
  // commits; a crash between them leaves a queue that nothing holds.
  const std::vector<std::uint32_t> orphans = queue_.OrphanQueues();
  std::unordered_map<std::uint32_t, std::size_t> unfinished;  // per orphan team
  if (!orphans.empty()) {
    for (const auto& [id, run] : active_) ++unfinished[run.team];
  }
  for (std::uint32_t team : orphans) {
    if (Status s = RestoreLockHold(team, unfinished[team]); !s.ok()) return s;
    if (queue_.Holder(team)) continue;  // its lost attempt may still be running
    auto next = queue_.PromoteNext(team, [&](const std::string& id) { return active_.count(id) != 0; });
    if (next) Transition(active_[*next], RunState::kAccepted);
  }
  if (Status s = Persist(); !s.ok()) return s;
  loaded_at_ms_ = WallMs();
  // Housekeeping waits a minute: first serve what the restart owes.
  next_prune_ = next_silence_check_ = clock_.Now() + std::chrono::minutes(1);
  next_run_archive_ = clock_.Now() + std::chrono::minutes(2);  // not in the start's rush
  spdlog::info("loaded {} teams, {} unfinished runs, event seq {}", teams.value().size(),
               active_.size(), journal_.last_seq());
  return Status();
}

RunRecord RunManager::Transition(RunRecord run, RunState to, Extras extras) {
  const RunState from = run.state;
  run.state = to;
  if (schemas::IsTerminal(to)) run.finished_unix_ms = WallMs();
  if (metrics_ != nullptr) metrics_->Observe(run, from, extras.team_status);
  journal_.RecordRun(run, schemas::EventFor(to), std::move(extras));
  spdlog::info("run {} {}{}", Describe(run), schemas::EventFor(to), run.error.empty() ? "" : ": " + run.error);
  const std::string id = run.run_id;
  const std::uint32_t team = run.team;
  if (!schemas::IsTerminal(to)) {
    active_[id] = run;
  } else {
    active_.erase(id);
  }
  switch (to) {
    case RunState::kAccepted:
      queue_.Lock(team, id);
      queue_.MarkReady(id);
      return run;
    case RunState::kQueued:
      queue_.Enqueue(team, id);
      return run;
    case RunState::kRetryWait:
      retry_at_.emplace(MonoAt(run.next_attempt_unix_ms), id);
      return run;
    case RunState::kDispatched:
    case RunState::kRunning:
      return run;
    case RunState::kSucceeded:
    case RunState::kFailed:
    case RunState::kMissed:
    case RunState::kSkipped:
    case RunState::kCancelled:
      break;
  }
  if (from == RunState::kQueued) queue_.Dequeue(team, id);
  if (from == RunState::kAccepted) queue_.RemoveReady(id);
  if (from == RunState::kRetryWait) {
    for (auto r = retry_at_.begin(); r != retry_at_.end(); ++r) {
      if (r->second == id) {
        retry_at_.erase(r);
        break;
      }
    }
  }
  // A lost attempt that ended its run may still be running: its team waits.
  if (lock_holds_.count(id) == 0) ReleaseTeam(team, id);
  if (to == RunState::kSucceeded) {
    for (const schemas::DueEvent& due : dependencies_.DueAfter(run)) {
      Admission a = Admit(due);
      if (!a.status.ok()) {
        spdlog::error("could not start {} after run {}: {}", common::TeamLabel(due.team), id,
                      a.status.message());
      }
    }
  }
  return run;
}

Status RunManager::RestoreLockHold(std::uint32_t team, std::size_t unfinished) {
  // The team's latest ended run is behind its unfinished ones (newest first).
  auto recent = journal_.RecentRuns(team, unfinished + 1);
  if (!recent.ok()) return recent.status();
  for (const RunRecord& run : recent.value()) {
    if (!schemas::IsTerminal(run.state)) continue;
    if (run.lock_held_until_unix_ms > WallMs()) {
      spdlog::info("run {}: its lost attempt may run until its lease lapses; {} waits {} ms",
                   run.run_id, common::TeamLabel(team), run.lock_held_until_unix_ms - WallMs());
      queue_.Lock(team, run.run_id);
      lock_holds_[run.run_id] = {team, MonoAt(run.lock_held_until_unix_ms)};
    }
    break;
  }
  return Status();
}

void RunManager::ReleaseTeam(std::uint32_t team, const std::string& run_id) {
  auto next = queue_.Release(team, run_id, [&](const std::string& next_id) { return active_.count(next_id) != 0; });
  if (next) Transition(active_[*next], RunState::kAccepted);
}

void RunManager::ReleaseExpiredHolds(common::Clock::Mono now) {
  for (auto it = lock_holds_.begin(); it != lock_holds_.end();) {
    if (it->second.second > now) {
      ++it;
      continue;
    }
    const std::uint32_t team = it->second.first;
    const std::string run_id = it->first;
    it = lock_holds_.erase(it);
    spdlog::info("run {}: its lost attempt's lease ran out; {} may start its next run", run_id,
                 common::TeamLabel(team));
    ReleaseTeam(team, run_id);
  }
}

Result<RunRecord> RunManager::FindRun(const std::string& run_id) {
  if (auto it = active_.find(run_id); it != active_.end()) return it->second;
  return journal_.GetRun(run_id);
}

const RunRecord* RunManager::FindActive(const std::string& run_id) const {
  auto it = active_.find(run_id);
  return it == active_.end() ? nullptr : &it->second;
}

Result<RunRecord> RunManager::Cancel(const std::string& run_id) {
  auto it = active_.find(run_id);
  if (it == active_.end()) {
    auto stored = FindRun(run_id);
    if (!stored.ok()) return stored.status();
    return Status::Error(Code::kRejected, "run " + run_id + " already ended (" +
                                              std::string(schemas::Name(stored.value().state)) + ")");
  }
  RunRecord run = it->second;
  if (schemas::IsOut(run.state)) {
    // The runner stops the pipeline; its result then ends the run.
    run.cancel_requested = true;
    Change change;
    change.run = run;
    journal_.RecordChange(std::move(change));
    active_[run_id] = run;
    schemas::BrokerMessage m;
    m.type = std::string(schemas::broker_msg::kCancel);
    m.run_id = run_id;
    m.attempt = run.attempt;
    if (!run.runner_id.empty()) journal_.SendToRunner(run.runner_id, m);
    return run;
  }
  run.error = "cancelled by request";
  RunRecord cancelled = Transition(run, RunState::kCancelled);
  Dispatch();  // the team may have a queued run waiting
  return cancelled;
}

void RunManager::Dispatch() {
  while (queue_.HasReady()) {
    const std::string run_id = *queue_.PopReady();
    auto it = active_.find(run_id);
    if (it == active_.end()) continue;
    // Never to a runner that may still hold an earlier attempt of it.
    RunnerTable::Runner* runner = runners_.PickFree(run_id);
    if (runner == nullptr) {
      queue_.PushReadyFront(run_id);
      return;
    }
    RunRecord run = it->second;
    run.attempt += 1;
    run.runner_id = runner->id;
    run.token = protocol_.NewToken();
    run.next_attempt_unix_ms = 0;
    run.error.clear();  // the previous attempt's outcome is in its event
    run.exit_code = -1;
    Transition(run, RunState::kDispatched);
    runner->runs.insert(run_id);
    schemas::BrokerMessage m;
    m.type = std::string(schemas::broker_msg::kDispatch);
    m.run_id = run_id;
    m.attempt = run.attempt;
    m.token = run.token;
    m.team = run.team;
    m.pdate = run.pdate;
    m.key = run.key;
    m.local_date = run.local_date;
    if (const schemas::TeamRecord* team = teams_.Find(run.team)) {
      m.command = team->command;
      m.timeout_s = team->timeout_s;
      m.zone = teams_.Resolved(*team).timezone;
      m.network = team->network;
      m.memory_mb = team->memory_mb;
      m.env = team->env;
    }
    // The runner's lease terms, so both sides count the same lapse.
    m.lease_ms = static_cast<std::uint32_t>(protocol_.lease().count());
    m.lease_grace_ms = static_cast<std::uint32_t>(protocol_.lease_grace().count());
    protocol_.SendDispatch(runner->id, m);
  }
}

void RunManager::AttemptStarted(const std::string& run_id, const std::string& runner_id,
                                const std::string& log_path) {
  RunRecord run = active_.at(run_id);
  run.runner_id = runner_id;
  run.started_unix_ms = WallMs();
  run.log_path = log_path;
  Transition(run, RunState::kRunning);
}

void RunManager::AttemptEnded(const std::string& run_id, std::string_view outcome,
                              const schemas::RunnerMessage* result, const std::string& error,
                              std::chrono::milliseconds hold) {
  auto it = active_.find(run_id);
  if (it == active_.end()) return;
  RunRecord run = it->second;
  if (result != nullptr) {
    run.exit_code = result->exit_code;
    run.total_loans = result->total_loans;
    run.exceptions_count = result->exceptions_count;
    run.metrics = result->metrics;
    run.inputs = result->inputs;
    if (!result->log_path.empty()) run.log_path = result->log_path;
    // A reason is for what did not succeed; a success's log stays on its host.
    run.stderr_tail = outcome == schemas::outcome::kSucceeded
                          ? ""
                          : common::Tail(result->stderr_tail, kStderrTailBytes);
  } else {
    run.stderr_tail.clear();  // a lost attempt said nothing: no older words stand in
    run.inputs.clear();
  }
  run.error = error;
  run.token.clear();  // nothing may speak for the ended attempt
  const RetryPolicy policy = settings_.retry.For(teams_.Find(run.team));
  RunState next;
  if (outcome == schemas::outcome::kSucceeded) {
    next = RunState::kSucceeded;
    run.error.clear();
  } else if (run.cancel_requested) {
    next = RunState::kCancelled;
    run.error = "cancelled by request";
  } else if (policy.Retries(outcome) && run.attempt < run.max_attempts) {
    next = RunState::kRetryWait;
    // Never while the lost attempt may still run: its lease decides.
    run.next_attempt_unix_ms = WallMs() + std::max(backoff_.Delay(policy, run.attempt), hold).count();
  } else {
    next = RunState::kFailed;
  }
  if (hold.count() > 0 && schemas::IsTerminal(next)) {
    // The lost attempt's pipeline may run until its lease lapses: the
    // team's next run must not start beside it.
    lock_holds_[run_id] = {run.team, clock_.Now() + hold};
    run.lock_held_until_unix_ms = WallMs() + hold.count();  // for a restart within it
  }
  Extras extras;
  if (next == RunState::kSucceeded || next == RunState::kFailed) {
    schemas::TeamStatus status = team_status_[run.team];
    extras.alerts = alerts_.OnRunEnded(run.team, run_id, next == RunState::kSucceeded, error,
                                       WallMs(), status);
    extras.team_status = {{run.team, status}};
    team_status_[run.team] = status;
  }
  Transition(run, next, std::move(extras));
}


Status RunManager::PutTeam(const schemas::TeamRecord& request) {
  auto prepared = teams_.PreparePut(request, WallMs());
  if (!prepared.ok()) return prepared.status();
  Change change;
  change.team_put = prepared.value();
  journal_.RecordChange(std::move(change));
  teams_.Put(prepared.value());
  schemas::ScheduleChanged changed;
  changed.team = request.id;
  changed.change = std::string(schemas::schedule_change::kPut);
  journal_.Publish(schemas::topic::kScheduleChanged, schemas::Encode(changed));
  for (const std::string& runner : runners_.Ids()) SendTeamFolders(runner, {request.id});
  return Status();
}

Status RunManager::RemoveTeam(std::uint32_t id) {
  if (id == common::kGeneralTeam) {
    return Status::Error(Code::kRejected, "the general run cannot be removed; pause it instead");
  }
  if (teams_.Find(id) == nullptr) {
    return Status::Error(Code::kNotFound, common::TeamLabel(id) + " does not exist");
  }
  Change change;
  change.team_remove = id;
  journal_.RecordChange(std::move(change));
  teams_.Remove(id);
  schemas::ScheduleChanged changed;
  changed.team = id;
  changed.change = std::string(schemas::schedule_change::kRemove);
  journal_.Publish(schemas::topic::kScheduleChanged, schemas::Encode(changed));
  return Status();
}

void RunManager::CheckSilentTeams() {
  const std::int64_t now_ms = WallMs();
  // Walks the teams in place: copying 100,000 resolved records every minute
  // would double the broker's memory for a moment.
  teams_.ForEach([&](const schemas::TeamRecord& team) {
    if (team.paused) return;
    auto known = team_status_.find(team.id);
    schemas::TeamStatus status = known == team_status_.end() ? schemas::TeamStatus() : known->second;
    // A team with no tally yet (no run ended since it was added, or since
    // this broker version) counts from when this broker loaded, not from
    // its creation: an upgrade must not page everyone at once.
    const std::int64_t since =
        std::max({status.last_success_unix_ms, team.schedule_since_unix_ms,
                  known == team_status_.end() ? loaded_at_ms_ : std::int64_t{0}});
    auto alert = alerts_.CheckSilence(team.id, since, now_ms, status);
    if (!alert) return;
    Change change;
    change.team_status = {{team.id, status}};
    team_status_[team.id] = status;
    change.events.push_back(journal_.MakeAlert(*alert));
    journal_.RecordChange(std::move(change));
    spdlog::warn("{}", alert->message);
  });
}

void RunManager::RaiseAlert(std::string_view kind, const std::string& message) {
  schemas::AlertEvent alert;
  alert.kind = std::string(kind);
  alert.message = message;
  alert.at_unix_ms = WallMs();
  Change change;
  change.events.push_back(journal_.MakeAlert(alert));
  journal_.RecordChange(std::move(change));
  spdlog::error("alert {}: {}", alert.kind, message);
}

void RunManager::Tick() {
  const auto now = clock_.Now();
  protocol_.Tick();
  ReleaseExpiredHolds(now);
  while (!retry_at_.empty() && retry_at_.begin()->first <= now) {
    queue_.MarkReady(retry_at_.begin()->second);
    retry_at_.erase(retry_at_.begin());
  }
  if (now >= next_silence_check_) {
    next_silence_check_ = now + std::chrono::minutes(1);
    CheckSilentTeams();
  }
  if (now >= next_prune_ && settings_.event_retention.count() > 0) PruneEventLog(now);
  if (now >= next_run_archive_ && settings_.run_retention.count() > 0 && archive_ != nullptr) {
    ArchiveRunHistory(now);
  }
  Dispatch();
}

common::Clock::Mono RunManager::NextDeadline() const {
  auto next = protocol_.NextDeadline();
  if (!retry_at_.empty()) next = std::min(next, retry_at_.begin()->first);
  for (const auto& [run_id, hold] : lock_holds_) next = std::min(next, hold.second);
  return next;
}

}  // namespace broker
