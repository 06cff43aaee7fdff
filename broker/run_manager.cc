#include "broker/run_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/run_key.h"
#include "common/team.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace broker {

using common::Code;
using common::Result;
using common::Status;
using schemas::RunRecord;

namespace {

bool HoldsTeamLock(const std::string& state) {
  return state == "accepted" || state == "dispatched" || state == "running" ||
         state == "retry_wait";
}

std::string Describe(const RunRecord& run) {
  return run.run_id + " (" + common::TeamLabel(run.team) + ", " + run.key + ")";
}

}  // namespace

RunManager::RunManager(RunStore& store, TeamRegistry& teams, const common::Clock& clock,
                       Settings settings)
    : store_(store), teams_(teams), clock_(clock), settings_(settings),
      jitter_(settings.jitter_seed) {}

std::int64_t RunManager::WallMs() const { return common::ToUnixMs(clock_.WallNow()); }

Status RunManager::Load() {
  auto teams = store_.LoadTeams();
  if (!teams.ok()) return teams.status();
  teams_.Load(teams.value());
  next_seq_ = store_.LastSeq() + 1;
  next_run_number_ = store_.LastRunNumber() + 1;
  if (teams_.Find(common::kGeneralTeam) == nullptr) {
    schemas::TeamRecord general;
    general.id = common::kGeneralTeam;
    general.name = "general";
    if (Status s = PutTeam(general); !s.ok()) return s;
  }
  auto statuses = store_.LoadTeamStatuses();
  if (!statuses.ok()) return statuses.status();
  for (const auto& [team, status] : statuses.value()) team_status_[team] = status;

  auto runs = store_.LoadActiveRuns();
  if (!runs.ok()) return runs.status();
  // A runner that held a run when we stopped gets a few heartbeats to
  // say so; after that the attempt counts as lost.
  const auto claim_deadline = clock_.Now() + settings_.heartbeat * (settings_.heartbeat_liveness + 1);
  for (RunRecord& run : runs.value()) {
    const std::string id = run.run_id;
    if (run.state == "queued") {
      team_queue_[run.team].push_back(id);
    } else if (HoldsTeamLock(run.state)) {
      if (team_lock_.count(run.team) != 0) {
        spdlog::error("run {} holds the lock of {} already held by {}; queueing it", id,
                      common::TeamLabel(run.team), team_lock_[run.team]);
        team_queue_[run.team].push_back(id);
      } else {
        team_lock_[run.team] = id;
        if (run.state == "accepted") ready_.push_back(id);
        if (run.state == "retry_wait") retry_at_.emplace(run.next_attempt_unix_ms, id);
        if (run.state == "dispatched" || run.state == "running") unclaimed_[id] = claim_deadline;
      }
    }
    active_[id] = std::move(run);
  }
  spdlog::info("loaded {} teams, {} unfinished runs, event seq {}", teams.value().size(),
               active_.size(), next_seq_ - 1);
  return Status();
}

schemas::LoggedEvent RunManager::MakeEvent(const std::string& topic, std::string payload) {
  schemas::LoggedEvent e;
  e.seq = next_seq_++;
  e.topic = topic;
  e.payload.assign(payload.begin(), payload.end());
  return e;
}

void RunManager::Publish(const std::string& topic, const std::string& payload) {
  outbox_.push_back({Outgoing::To::kBus, topic, payload});
}

void RunManager::SendToRunner(const std::string& runner_id, const schemas::BrokerMessage& m) {
  outbox_.push_back({Outgoing::To::kRunner, runner_id, schemas::Encode(m)});
}

Status RunManager::Commit(RunRecord next, const std::string& event, Extras extras) {
  const std::uint64_t seq_before = next_seq_;
  Change change;
  schemas::RunEvent run_event;
  run_event.event = event;
  run_event.at_unix_ms = WallMs();
  run_event.run = next;
  run_event.seq = next_seq_;
  change.events.push_back(MakeEvent(schemas::RunTopic(event), schemas::Encode(run_event)));
  for (schemas::AlertEvent& alert : extras.alerts) {
    alert.seq = next_seq_;
    change.events.push_back(MakeEvent(schemas::AlertTopic(alert.kind), schemas::Encode(alert)));
  }
  change.run = next;
  change.new_run = extras.new_run;
  change.team_status = extras.team_status;
  Status s = store_.Commit(change);
  if (!s.ok()) {
    next_seq_ = seq_before;
    ++counters_.store_errors;
    spdlog::error("could not record {} -> {}: {}", Describe(next), next.state, s.ToString());
    return s;
  }
  if (change.team_status) team_status_[change.team_status->first] = change.team_status->second;
  if (IsTerminalState(next.state)) {
    active_.erase(next.run_id);
  } else {
    active_[next.run_id] = next;
  }
  for (const schemas::LoggedEvent& e : change.events) {
    Publish(e.topic, std::string(e.payload.begin(), e.payload.end()));
  }
  spdlog::info("run {} {}{}", Describe(next), event,
               next.error.empty() ? "" : ": " + next.error);
  return Status();
}

std::string RunManager::NextRunId() { return RunStore::RunIdFor(next_run_number_++); }

Admission RunManager::Admit(const schemas::DueEvent& due) {
  Admission result;
  const schemas::TeamRecord* team = teams_.Find(due.team);
  if (team == nullptr) {
    result.status = Status::Error(Code::kNotFound, common::TeamLabel(due.team) + " does not exist");
    return result;
  }
  if (!due.key.empty()) {
    auto existing = store_.FindRunIdByKey(due.key);
    if (existing.ok()) {
      auto run = store_.GetRun(existing.value());
      if (!run.ok()) {
        result.status = run.status();
        return result;
      }
      ++counters_.duplicates;
      result.run = run.value();
      result.duplicate = true;
      return result;
    }
    if (existing.status().code() != Code::kNotFound) {
      result.status = existing.status();
      return result;
    }
  }
  const schemas::TeamRecord resolved = teams_.Resolved(*team);
  const std::int64_t now_ms = WallMs();
  RunRecord run;
  run.run_id = NextRunId();
  run.key = due.key.empty() ? "manual:" + run.run_id : due.key;
  run.team = due.team;
  run.kind = due.kind;
  run.fire_unix_ms = due.kind == "manual" ? now_ms : due.fire_unix_ms;
  run.local_date = due.local_date.empty()
                       ? common::FormatDate(teams_.LocalDate(resolved, clock_.WallNow()))
                       : due.local_date;
  run.pdate = due.pdate.empty() ? teams_.DefaultPdate(common::ParseDate(run.local_date).value())
                                : due.pdate;
  run.accepted_unix_ms = now_ms;
  run.max_attempts = resolved.max_attempts;
  run.requested_by = due.requested_by;

  Extras extras;
  extras.new_run = true;
  std::string event = "accepted";
  const std::int64_t late_ms = now_ms - due.fire_unix_ms;
  auto lock = team_lock_.find(run.team);
  if (due.kind == "scheduled" && late_ms > settings_.misfire_grace.count()) {
    run.state = "missed";
    run.error = "fire time missed by " + std::to_string(late_ms / 1000) + " s (grace " +
                std::to_string(settings_.misfire_grace.count() / 1000) + " s)";
    run.finished_unix_ms = now_ms;
    event = "missed";
  } else if (lock != team_lock_.end() && resolved.overlap == "skip" && due.kind != "backfill" &&
             due.kind != "chained") {
    run.state = "skipped";
    run.error = common::TeamLabel(run.team) + " is busy with run " + lock->second;
    run.finished_unix_ms = now_ms;
    event = "skipped";
  } else if (lock != team_lock_.end() || !team_queue_[run.team].empty()) {
    run.state = "queued";
    event = "queued";
  } else {
    run.state = "accepted";
  }
  result.status = Commit(run, event, std::move(extras));
  if (!result.status.ok()) return result;
  if (run.state == "queued") team_queue_[run.team].push_back(run.run_id);
  if (run.state == "accepted") {
    team_lock_[run.team] = run.run_id;
    ready_.push_back(run.run_id);
  }
  result.run = run;
  Dispatch();
  return result;
}

Result<std::vector<Admission>> RunManager::Backfill(std::uint32_t team_id, const std::string& from,
                                                    const std::string& to, int max_days,
                                                    const std::string& requested_by) {
  const schemas::TeamRecord* team = teams_.Find(team_id);
  if (team == nullptr) return Status::Error(Code::kNotFound, common::TeamLabel(team_id) + " does not exist");
  auto first = common::ParseDate(from);
  if (!first.ok()) return first.status();
  auto last = common::ParseDate(to);
  if (!last.ok()) return last.status();
  const int days = (last.value() - first.value()).count() + 1;
  if (days < 1) return Status::Error(Code::kInvalid, "backfill range " + from + " to " + to + " runs backwards");
  if (days > max_days) {
    return Status::Error(Code::kInvalid, "backfill range " + from + " to " + to + " is " +
                                             std::to_string(days) + " days; the limit is " +
                                             std::to_string(max_days));
  }
  const schemas::TeamRecord resolved = teams_.Resolved(*team);
  const common::DailySchedule schedule{common::ParseTimeOfDay(resolved.run_time).value(),
                                       common::FindZone(resolved.timezone).value()};
  std::vector<Admission> admitted;
  for (auto day = first.value(); day <= last.value(); day += date::days(1)) {
    const common::Fire fire = common::FireOn(schedule, day);
    schemas::DueEvent due;
    due.kind = "backfill";
    due.team = team_id;
    due.key = common::ScheduledRunKey(team_id, day, schedule.time);
    due.fire_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(fire.at.time_since_epoch()).count();
    due.local_date = common::FormatDate(day);
    due.requested_by = requested_by;
    admitted.push_back(Admit(due));
    if (!admitted.back().status.ok()) return admitted.back().status;
  }
  return admitted;
}

Result<RunRecord> RunManager::Cancel(const std::string& run_id) {
  auto it = active_.find(run_id);
  if (it == active_.end()) {
    auto stored = store_.GetRun(run_id);
    if (!stored.ok()) return stored.status();
    return Status::Error(Code::kRejected,
                         "run " + run_id + " already ended (" + stored.value().state + ")");
  }
  RunRecord run = it->second;
  if (run.state == "dispatched" || run.state == "running") {
    // The runner stops the pipeline; its result then ends the run.
    run.cancel_requested = true;
    Change change;
    change.run = run;
    if (Status s = store_.Commit(change); !s.ok()) return s;
    active_[run_id] = run;
    schemas::BrokerMessage m;
    m.type = "cancel";
    m.run_id = run_id;
    m.attempt = run.attempt;
    if (!run.runner_id.empty()) SendToRunner(run.runner_id, m);
    return run;
  }
  const std::string before = run.state;
  run.state = "cancelled";
  run.error = "cancelled by request";
  run.finished_unix_ms = WallMs();
  if (Status s = Commit(run, "cancelled"); !s.ok()) return s;
  if (before == "queued") {
    auto& q = team_queue_[run.team];
    q.erase(std::remove(q.begin(), q.end(), run_id), q.end());
  } else {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), run_id), ready_.end());
    for (auto r = retry_at_.begin(); r != retry_at_.end(); ++r) {
      if (r->second == run_id) {
        retry_at_.erase(r);
        break;
      }
    }
    ReleaseTeam(run.team, run_id);
  }
  return run;
}

Status RunManager::PutTeam(const schemas::TeamRecord& request) {
  auto prepared = teams_.PreparePut(request, WallMs());
  if (!prepared.ok()) return prepared.status();
  Change change;
  change.team_put = prepared.value();
  if (Status s = store_.Commit(change); !s.ok()) return s;
  teams_.Put(prepared.value());
  schemas::ScheduleChanged changed;
  changed.team = request.id;
  changed.change = "put";
  Publish(std::string(schemas::kTopicScheduleChanged), schemas::Encode(changed));
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
  if (Status s = store_.Commit(change); !s.ok()) return s;
  teams_.Remove(id);
  schemas::ScheduleChanged changed;
  changed.team = id;
  changed.change = "remove";
  Publish(std::string(schemas::kTopicScheduleChanged), schemas::Encode(changed));
  return Status();
}

void RunManager::OnRunnerMessage(const std::string& runner_id, const schemas::RunnerMessage& m) {
  const auto now = clock_.Now();
  if (m.type == "hello") {
    OnHello(runner_id, m);
  } else if (!runners_.Touch(runner_id, now)) {
    // Not known (we restarted, or it was expired): it must say hello with
    // the runs it holds before it gets work. Results still count below.
    schemas::BrokerMessage reset;
    reset.type = "welcome";
    reset.key = "hello-required";
    SendToRunner(runner_id, reset);
  }
  if (m.type == "started") OnStarted(runner_id, m);
  if (m.type == "result") OnResult(runner_id, m);
  if (m.type == "bye") {
    if (runners_.Find(runner_id) != nullptr) {
      LoseRunnerRuns(runners_.Remove(runner_id), "runner " + runner_id + " left");
    }
  }
  Dispatch();
}

void RunManager::OnHello(const std::string& runner_id, const schemas::RunnerMessage& m) {
  RunnerTable::Runner* previous = runners_.Find(runner_id);
  std::set<std::string> had;
  if (previous != nullptr) had = previous->runs;
  runners_.Upsert(runner_id, m.slots, clock_.Now());
  RunnerTable::Runner* runner = runners_.Find(runner_id);
  for (const schemas::Lease& lease : m.holding) {
    auto it = active_.find(lease.run_id);
    const bool current = it != active_.end() && it->second.attempt == lease.attempt &&
                         (it->second.state == "dispatched" || it->second.state == "running");
    if (current) {
      runner->runs.insert(lease.run_id);
      unclaimed_.erase(lease.run_id);
      had.erase(lease.run_id);
      if (it->second.runner_id != runner_id) {
        it->second.runner_id = runner_id;
      }
    } else {
      // Held for an attempt that is no longer current: stop it.
      ++counters_.stale_results;
      schemas::BrokerMessage cancel;
      cancel.type = "cancel";
      cancel.run_id = lease.run_id;
      cancel.attempt = lease.attempt;
      SendToRunner(runner_id, cancel);
    }
  }
  schemas::BrokerMessage welcome;
  welcome.type = "welcome";
  SendToRunner(runner_id, welcome);
  spdlog::info("runner {} ready with {} slots, holding {} runs", runner_id, m.slots,
               runner->runs.size());
  // Runs we had given it that it no longer holds were lost in its restart.
  for (const std::string& run_id : had) {
    EndAttempt(run_id, "transient", nullptr, "runner " + runner_id + " restarted and lost it");
  }
}

void RunManager::OnStarted(const std::string& runner_id, const schemas::RunnerMessage& m) {
  auto it = active_.find(m.run_id);
  if (it == active_.end() || it->second.attempt != m.attempt || it->second.state != "dispatched") {
    ++counters_.stale_results;
    spdlog::warn("ignoring started for {} attempt {} from {}: not the current dispatch",
                 m.run_id, m.attempt, runner_id);
    return;
  }
  RunRecord run = it->second;
  run.state = "running";
  run.runner_id = runner_id;
  run.started_unix_ms = WallMs();
  run.log_path = m.log_path;
  (void)Commit(run, "started");
}

void RunManager::OnResult(const std::string& runner_id, const schemas::RunnerMessage& m) {
  // Always acknowledge, so the runner stops resending, even when stale.
  schemas::BrokerMessage ack;
  ack.type = "ack";
  ack.run_id = m.run_id;
  ack.attempt = m.attempt;
  auto it = active_.find(m.run_id);
  if (it == active_.end() || it->second.attempt != m.attempt ||
      (it->second.state != "dispatched" && it->second.state != "running")) {
    ++counters_.stale_results;
    spdlog::warn("stale result for {} attempt {} from {} ignored", m.run_id, m.attempt, runner_id);
    SendToRunner(runner_id, ack);
    return;
  }
  if (RunnerTable::Runner* r = runners_.Find(runner_id)) r->runs.erase(m.run_id);
  EndAttempt(m.run_id, m.outcome, &m, m.error);
  // Ack only what is committed: a result we failed to record must be resent.
  auto after = active_.find(m.run_id);
  if (after == active_.end() ||
      (after->second.state != "dispatched" && after->second.state != "running")) {
    SendToRunner(runner_id, ack);
  }
}

std::chrono::milliseconds RunManager::Backoff(std::uint32_t attempt) {
  double delay = static_cast<double>(settings_.retry.initial.count());
  for (std::uint32_t i = 1; i < attempt && delay < settings_.retry.max.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(settings_.retry.max.count()));
  // "Equal jitter": at least half the delay, so retries spread but never rush.
  std::uniform_real_distribution<double> half(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * half(jitter_)));
}

void RunManager::EndAttempt(const std::string& run_id, const std::string& outcome,
                            const schemas::RunnerMessage* result, const std::string& error) {
  auto it = active_.find(run_id);
  if (it == active_.end()) return;
  RunRecord run = it->second;
  unclaimed_.erase(run_id);
  const std::int64_t now_ms = WallMs();
  if (result != nullptr) {
    run.exit_code = result->exit_code;
    run.total_loans = result->total_loans;
    run.exceptions_count = result->exceptions_count;
    run.metrics = result->metrics;
    if (!result->log_path.empty()) run.log_path = result->log_path;
  }
  run.error = error;
  Extras extras;
  std::string event;
  const std::uint32_t team = run.team;
  schemas::TeamStatus status = team_status_[team];
  auto alert = [&](const std::string& kind, const std::string& message) {
    schemas::AlertEvent a;
    a.kind = kind;
    a.team = team;
    a.count = status.consecutive_failures;
    a.run_id = run_id;
    a.message = message;
    a.at_unix_ms = now_ms;
    extras.alerts.push_back(a);
  };
  const bool retryable = outcome == "transient" || settings_.retry.retry_any_failure;
  if (outcome == "succeeded") {
    run.state = "succeeded";
    run.error.clear();
    event = "completed";
    if (status.alerted) {
      alert("recovered", common::TeamLabel(team) + " succeeded again after " +
                             std::to_string(status.consecutive_failures) + " failed runs");
    }
    status.consecutive_failures = 0;
    status.alerted = false;
    status.last_success_unix_ms = now_ms;
  } else if (run.cancel_requested) {
    run.state = "cancelled";
    run.error = "cancelled by request";
    event = "cancelled";
  } else if (retryable && run.attempt < run.max_attempts) {
    const auto delay = Backoff(run.attempt);
    run.state = "retry_wait";
    run.next_attempt_unix_ms = now_ms + delay.count();
    event = "retrying";
  } else {
    run.state = "failed";
    event = "failed";
    ++status.consecutive_failures;
    if (status.consecutive_failures >= settings_.failure_alert_threshold && !status.alerted) {
      status.alerted = true;
      alert("consecutive_failures", common::TeamLabel(team) + " has failed " +
                                        std::to_string(status.consecutive_failures) +
                                        " runs in a row; last error: " + error);
    }
  }
  if (IsTerminalState(run.state)) run.finished_unix_ms = now_ms;
  if (run.state == "succeeded" || run.state == "failed") extras.team_status = {{team, status}};
  if (!Commit(run, event, std::move(extras)).ok()) return;
  if (run.state == "retry_wait") {
    retry_at_.emplace(run.next_attempt_unix_ms, run_id);
  } else {
    ReleaseTeam(team, run_id);
  }
  if (run.state == "succeeded") StartDependents(run);
}

bool RunManager::SucceededOn(std::uint32_t team, const std::string& local_date) {
  // Recent history is enough: a dependency waits for the same day's run.
  auto runs = store_.ListRuns(team, 200);
  if (!runs.ok()) return false;
  for (const RunRecord& r : runs.value()) {
    if (r.local_date == local_date && r.state == "succeeded") return true;
  }
  return false;
}

void RunManager::StartDependents(const RunRecord& upstream) {
  for (const schemas::TeamRecord& team : teams_.ResolvedAll()) {
    if (team.paused ||
        std::find(team.after.begin(), team.after.end(), upstream.team) == team.after.end()) {
      continue;
    }
    bool ready = true;
    for (std::uint32_t other : team.after) {
      if (other != upstream.team && !SucceededOn(other, upstream.local_date)) ready = false;
    }
    if (!ready) continue;
    schemas::DueEvent due;
    due.kind = "chained";
    due.team = team.id;
    due.key = "after:" + std::to_string(team.id) + ":" + upstream.local_date;
    due.local_date = upstream.local_date;
    due.pdate = upstream.pdate;
    due.requested_by = "after run " + upstream.run_id;
    Admission a = Admit(due);
    if (!a.status.ok()) {
      spdlog::error("could not start {} after run {}: {}", common::TeamLabel(team.id),
                    upstream.run_id, a.status.message());
    }
  }
}

void RunManager::ReleaseTeam(std::uint32_t team, const std::string& run_id) {
  auto lock = team_lock_.find(team);
  if (lock == team_lock_.end() || lock->second != run_id) return;
  team_lock_.erase(lock);
  auto& queue = team_queue_[team];
  while (!queue.empty()) {
    const std::string next_id = queue.front();
    queue.pop_front();
    auto it = active_.find(next_id);
    if (it == active_.end()) continue;
    RunRecord next = it->second;
    next.state = "accepted";
    if (!Commit(next, "accepted").ok()) {
      queue.push_front(next_id);
      return;
    }
    team_lock_[team] = next_id;
    ready_.push_back(next_id);
    return;
  }
}

void RunManager::LoseRunnerRuns(const RunnerTable::Runner& runner, const std::string& why) {
  for (const std::string& run_id : runner.runs) EndAttempt(run_id, "transient", nullptr, why);
}

void RunManager::Dispatch() {
  while (!ready_.empty()) {
    RunnerTable::Runner* runner = runners_.PickFree();
    if (runner == nullptr) return;
    const std::string run_id = ready_.front();
    ready_.pop_front();
    auto it = active_.find(run_id);
    if (it == active_.end()) continue;
    RunRecord run = it->second;
    const schemas::TeamRecord* team = teams_.Find(run.team);
    run.state = "dispatched";
    run.attempt += 1;
    run.runner_id = runner->id;
    run.next_attempt_unix_ms = 0;
    run.error.clear();  // the previous attempt's outcome is in its event
    run.exit_code = -1;
    if (!Commit(run, "dispatched").ok()) {
      ready_.push_front(run_id);
      return;
    }
    runner->runs.insert(run_id);
    schemas::BrokerMessage m;
    m.type = "dispatch";
    m.run_id = run_id;
    m.attempt = run.attempt;
    m.team = run.team;
    m.pdate = run.pdate;
    m.key = run.key;
    if (team != nullptr) {
      m.command = team->command;
      m.timeout_s = team->timeout_s;
    }
    SendToRunner(runner->id, m);
  }
}

void RunManager::Tick() {
  const auto now = clock_.Now();
  const auto cutoff = now - settings_.heartbeat * settings_.heartbeat_liveness;
  for (const RunnerTable::Runner& dead : runners_.Expire(cutoff)) {
    spdlog::warn("runner {} silent for {} heartbeats; its {} runs are lost", dead.id,
                 settings_.heartbeat_liveness, dead.runs.size());
    LoseRunnerRuns(dead, "runner " + dead.id + " stopped answering");
  }
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    const std::string run_id = it->first;
    it = unclaimed_.erase(it);
    EndAttempt(run_id, "transient", nullptr, "no runner claimed it after the broker restarted");
  }
  const std::int64_t now_ms = WallMs();
  while (!retry_at_.empty() && retry_at_.begin()->first <= now_ms) {
    ready_.push_back(retry_at_.begin()->second);
    retry_at_.erase(retry_at_.begin());
  }
  if (now >= next_heartbeat_) {
    // Heartbeats to every runner keep both sides' liveness checks honest.
    next_heartbeat_ = now + settings_.heartbeat;
    schemas::BrokerMessage beat;
    beat.type = "heartbeat";
    for (const std::string& id : runners_.Ids()) SendToRunner(id, beat);
  }
  Dispatch();
}

common::Clock::Mono RunManager::NextDeadline() const {
  auto next = next_heartbeat_;
  for (const auto& [id, deadline] : unclaimed_) next = std::min(next, deadline);
  if (!retry_at_.empty()) {
    const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, retry_at_.begin()->first - WallMs()));
    next = std::min(next, clock_.Now() + wait);
  }
  return next;
}

std::vector<Outgoing> RunManager::TakeOutbox() {
  std::vector<Outgoing> out;
  out.swap(outbox_);
  return out;
}

}  // namespace broker
