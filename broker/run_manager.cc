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
      jitter_(settings.jitter_seed),
      alerts_(settings.failure_alert_threshold, settings.no_success_alert) {}

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
  // A run's end and the promotion of its team's next queued run are two
  // commits; a crash between them leaves a queue that nothing holds.
  for (auto& [team, queue] : team_queue_) {
    if (queue.empty() || team_lock_.count(team) != 0) continue;
    RunRecord next = active_[queue.front()];
    next.state = "accepted";
    Commit(next, "accepted");
    team_lock_[team] = next.run_id;
    ready_.push_back(next.run_id);
    queue.pop_front();
  }
  if (Status s = Persist(); !s.ok()) return s;
  loaded_at_ms_ = WallMs();
  // Housekeeping waits a minute: first serve what the restart owes.
  next_prune_ = next_silence_check_ = clock_.Now() + std::chrono::minutes(1);
  spdlog::info("loaded {} teams, {} unfinished runs, event seq {}", teams.value().size(),
               active_.size(), next_seq_ - 1);
  return Status();
}

schemas::LoggedEvent RunManager::MakeEvent(const std::string& topic, std::string payload) {
  schemas::LoggedEvent e;
  e.seq = next_seq_++;
  e.topic = topic;
  e.payload.assign(payload.begin(), payload.end());
  e.at_unix_ms = WallMs();
  return e;
}

void RunManager::Publish(const std::string& topic, const std::string& payload) {
  outbox_.push_back({Outgoing::To::kBus, topic, payload});
}

void RunManager::SendToRunner(const std::string& runner_id, const schemas::BrokerMessage& m) {
  outbox_.push_back({Outgoing::To::kRunner, runner_id, schemas::Encode(m)});
}

void RunManager::Commit(RunRecord next, const std::string& event, Extras extras) {
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
  CommitChange(std::move(change));
  if (IsTerminalState(next.state)) {
    active_.erase(next.run_id);
  } else {
    active_[next.run_id] = next;
  }
  spdlog::info("run {} {}{}", Describe(next), event,
               next.error.empty() ? "" : ": " + next.error);
}

void RunManager::CommitChange(Change change) {
  store_.Stage(change);
  if (change.run) {
    staged_runs_[change.run->run_id] = *change.run;
    if (change.new_run) staged_keys_[change.run->key] = change.run->run_id;
  }
  if (change.team_status) team_status_[change.team_status->first] = change.team_status->second;
  for (const schemas::LoggedEvent& e : change.events) {
    Publish(e.topic, std::string(e.payload.begin(), e.payload.end()));
  }
}

Status RunManager::Persist() {
  if (!failure_.ok()) return failure_;
  if (Status s = store_.Flush(); !s.ok()) {
    ++counters_.store_errors;
    failure_ = s;
    spdlog::critical("could not write run state: {}; stopping", s.ToString());
    return s;
  }
  staged_runs_.clear();
  staged_keys_.clear();
  return Status();
}

Result<RunRecord> RunManager::FindRun(const std::string& run_id) {
  if (auto it = active_.find(run_id); it != active_.end()) return it->second;
  if (auto it = staged_runs_.find(run_id); it != staged_runs_.end()) return it->second;
  return store_.GetRun(run_id);
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
    alert->seq = next_seq_;
    change.events.push_back(MakeEvent(schemas::AlertTopic(alert->kind), schemas::Encode(*alert)));
    CommitChange(std::move(change));
    spdlog::warn("{}", alert->message);
  });
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
    auto staged = staged_keys_.find(due.key);
    auto existing = staged != staged_keys_.end() ? Result<std::string>(staged->second)
                                                 : store_.FindRunIdByKey(due.key);
    if (existing.ok()) {
      auto run = FindRun(existing.value());
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
  Commit(run, event, std::move(extras));
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
    auto stored = FindRun(run_id);
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
    CommitChange(std::move(change));
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
  Commit(run, "cancelled");
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
  Dispatch();  // the team may have a queued run waiting
  return run;
}

Status RunManager::PutTeam(const schemas::TeamRecord& request) {
  auto prepared = teams_.PreparePut(request, WallMs());
  if (!prepared.ok()) return prepared.status();
  Change change;
  change.team_put = prepared.value();
  CommitChange(std::move(change));
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
  CommitChange(std::move(change));
  teams_.Remove(id);
  schemas::ScheduleChanged changed;
  changed.team = id;
  changed.change = "remove";
  Publish(std::string(schemas::kTopicScheduleChanged), schemas::Encode(changed));
  return Status();
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
    Commit(next, "accepted");
    team_lock_[team] = next_id;
    ready_.push_back(next_id);
    return;
  }
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
    Commit(run, "dispatched");
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
  if (now >= next_silence_check_) {
    next_silence_check_ = now + std::chrono::minutes(1);
    CheckSilentTeams();
  }
  if (now >= next_prune_ && settings_.event_retention.count() > 0) {
    // In slices, so a long backlog never holds up the loop for long.
    constexpr std::size_t kPruneSlice = 20'000;
    auto pruned = store_.PruneEventsBefore(WallMs() - settings_.event_retention.count(), kPruneSlice);
    next_prune_ = now + (pruned.ok() && pruned.value() == kPruneSlice ? std::chrono::milliseconds(200)
                                                                        : std::chrono::milliseconds(3'600'000));
    if (!pruned.ok()) spdlog::error("event log retention: {}", pruned.status().ToString());
    else if (pruned.value() > 0) spdlog::debug("event log retention: removed {} old events", pruned.value());
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
  if (!Persist().ok()) return {};
  std::vector<Outgoing> out;
  out.swap(outbox_);
  return out;
}

}  // namespace broker
