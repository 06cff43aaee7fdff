// RunManager, part two: what runners say (hello, started, result, bye),
// how an attempt ends (success, retry with backoff, failure, alerts), and
// the runs that wait for others (dependencies).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/run_manager.h"
#include "common/team.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

namespace broker {

using common::Status;
using schemas::RunRecord;

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
  Commit(run, "started");
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

RetryPolicy RunManager::RetryPolicyOf(std::uint32_t team) const {
  RetryPolicy policy = settings_.retry;
  if (const schemas::TeamRecord* t = teams_.Find(team)) {
    if (!t->retry_on.empty()) policy.retry_any_failure = t->retry_on == "any";
    if (t->backoff_initial_s > 0) policy.initial = std::chrono::seconds(t->backoff_initial_s);
    if (t->backoff_max_s > 0) policy.max = std::chrono::seconds(t->backoff_max_s);
    policy.max = std::max(policy.max, policy.initial);
  }
  return policy;
}

std::chrono::milliseconds RunManager::Backoff(const RetryPolicy& policy, std::uint32_t attempt) {
  double delay = static_cast<double>(policy.initial.count());
  for (std::uint32_t i = 1; i < attempt && delay < policy.max.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(policy.max.count()));
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
  const RetryPolicy policy = RetryPolicyOf(run.team);
  const bool retryable = outcome == "transient" || policy.retry_any_failure;
  if (outcome == "succeeded") {
    run.state = "succeeded";
    run.error.clear();
    event = "completed";
  } else if (run.cancel_requested) {
    run.state = "cancelled";
    run.error = "cancelled by request";
    event = "cancelled";
  } else if (retryable && run.attempt < run.max_attempts) {
    const auto delay = Backoff(policy, run.attempt);
    run.state = "retry_wait";
    run.next_attempt_unix_ms = now_ms + delay.count();
    event = "retrying";
  } else {
    run.state = "failed";
    event = "failed";
  }
  if (run.state == "succeeded" || run.state == "failed") {
    schemas::TeamStatus status = team_status_[team];
    extras.alerts = alerts_.OnRunEnded(team, run_id, run.state == "succeeded", error, now_ms, status);
    extras.team_status = {{team, status}};
  }
  if (IsTerminalState(run.state)) run.finished_unix_ms = now_ms;
  Commit(run, event, std::move(extras));
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
  for (std::uint32_t id : teams_.DependentsOf(upstream.team)) {
    const schemas::TeamRecord* found = teams_.Find(id);
    if (found == nullptr || found->paused) continue;
    const schemas::TeamRecord& team = *found;
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

void RunManager::LoseRunnerRuns(const RunnerTable::Runner& runner, const std::string& why) {
  for (const std::string& run_id : runner.runs) EndAttempt(run_id, "transient", nullptr, why);
}

}  // namespace broker
