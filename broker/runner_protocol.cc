#include "broker/runner_protocol.h"

#include <spdlog/spdlog.h>

namespace broker {

using schemas::RunnerMessage;
namespace runner_msg = schemas::runner_msg;
namespace broker_msg = schemas::broker_msg;

RunnerProtocol::RunnerProtocol(RunLifecycle& runs, RunnerTable& runners, Journal& journal,
                               const common::Clock& clock, std::chrono::milliseconds heartbeat,
                               int heartbeat_liveness)
    : runs_(runs), runners_(runners), journal_(journal), clock_(clock), heartbeat_(heartbeat),
      liveness_(heartbeat_liveness) {}

void RunnerProtocol::ExpectClaim(const std::string& run_id, std::uint32_t attempt) {
  unclaimed_[run_id] = {clock_.Now() + heartbeat_ * (liveness_ + 1), attempt};
}

void RunnerProtocol::Send(const std::string& runner_id, std::string_view type,
                          const std::string& run_id, std::uint32_t attempt) {
  schemas::BrokerMessage m;
  m.type = std::string(type);
  m.run_id = run_id;
  m.attempt = attempt;
  journal_.SendToRunner(runner_id, m);
}

bool RunnerProtocol::IsCurrent(const std::string& run_id, std::uint32_t attempt) const {
  const schemas::RunRecord* run = runs_.FindActive(run_id);
  return run != nullptr && run->attempt == attempt && schemas::IsOut(run->state);
}

void RunnerProtocol::OnMessage(const std::string& runner_id, const RunnerMessage& m) {
  if (m.type == runner_msg::kHello) {
    OnHello(runner_id, m);
  } else if (!runners_.Touch(runner_id, clock_.Now())) {
    // Not known (we restarted, or it was expired): it must say hello with
    // the runs it holds before it gets work. Results still count below.
    schemas::BrokerMessage reset;
    reset.type = std::string(broker_msg::kWelcome);
    reset.key = std::string(broker_msg::kHelloRequired);
    journal_.SendToRunner(runner_id, reset);
  }
  if (m.type == runner_msg::kStarted) OnStarted(runner_id, m);
  if (m.type == runner_msg::kResult) OnResult(runner_id, m);
  if (m.type == runner_msg::kBye && runners_.Find(runner_id) != nullptr) {
    LoseRuns(runners_.Remove(runner_id), "runner " + runner_id + " left");
  }
  runs_.Dispatch();
}

void RunnerProtocol::OnHello(const std::string& runner_id, const RunnerMessage& m) {
  const std::uint32_t protocol = m.protocol == 0 ? schemas::kUnversionedWorkProtocol : m.protocol;
  if (protocol < schemas::kOldestWorkProtocol || protocol > schemas::kWorkProtocol) {
    ++counters_.refused_hellos;
    schemas::BrokerMessage refused;
    refused.type = std::string(broker_msg::kRefused);
    refused.protocol = schemas::kWorkProtocol;
    refused.error = "runner " + runner_id + " speaks work protocol " + std::to_string(protocol) +
                    "; this broker serves protocols " + std::to_string(schemas::kOldestWorkProtocol) +
                    " to " + std::to_string(schemas::kWorkProtocol);
    spdlog::error("refused hello: {}", refused.error);
    journal_.SendToRunner(runner_id, refused);
    return;
  }
  RunnerTable::Runner* previous = runners_.Find(runner_id);
  std::set<std::string> had;
  if (previous != nullptr) had = previous->runs;
  runners_.Upsert(runner_id, m.slots, clock_.Now());
  RunnerTable::Runner* runner = runners_.Find(runner_id);
  for (const schemas::Lease& lease : m.holding) {
    if (IsCurrent(lease.run_id, lease.attempt)) {
      runner->runs.insert(lease.run_id);
      unclaimed_.erase(lease.run_id);
      had.erase(lease.run_id);
      runs_.AttemptClaimed(lease.run_id, runner_id);
    } else {
      // Held for an attempt that is no longer current: stop it.
      ++counters_.stale_results;
      Send(runner_id, broker_msg::kCancel, lease.run_id, lease.attempt);
    }
  }
  schemas::BrokerMessage welcome;
  welcome.type = std::string(broker_msg::kWelcome);
  welcome.protocol = schemas::kWorkProtocol;
  journal_.SendToRunner(runner_id, welcome);
  spdlog::info("runner {} ready with {} slots, holding {} runs (work protocol {})", runner_id,
               m.slots, runner->runs.size(), protocol);
  // Runs we had given it that it no longer holds were lost in its restart.
  for (const std::string& run_id : had) {
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                       "runner " + runner_id + " restarted and lost it");
  }
}

void RunnerProtocol::OnStarted(const std::string& runner_id, const RunnerMessage& m) {
  const schemas::RunRecord* run = runs_.FindActive(m.run_id);
  if (run == nullptr || run->attempt != m.attempt || run->state != schemas::RunState::kDispatched) {
    ++counters_.stale_results;
    spdlog::warn("ignoring started for {} attempt {} from {}: not the current dispatch",
                 m.run_id, m.attempt, runner_id);
    return;
  }
  runs_.AttemptStarted(m.run_id, runner_id, m.log_path);
}

void RunnerProtocol::OnResult(const std::string& runner_id, const RunnerMessage& m) {
  // Always acknowledge, so the runner stops resending, even when stale.
  if (!IsCurrent(m.run_id, m.attempt)) {
    ++counters_.stale_results;
    spdlog::warn("stale result for {} attempt {} from {} ignored", m.run_id, m.attempt, runner_id);
    Send(runner_id, broker_msg::kAck, m.run_id, m.attempt);
    return;
  }
  unclaimed_.erase(m.run_id);
  if (RunnerTable::Runner* r = runners_.Find(runner_id)) r->runs.erase(m.run_id);
  runs_.AttemptEnded(m.run_id, m.outcome, &m, m.error);
  // The ack leaves only after the journal wrote the run's end.
  if (!IsCurrent(m.run_id, m.attempt)) Send(runner_id, broker_msg::kAck, m.run_id, m.attempt);
}

void RunnerProtocol::LoseRuns(const RunnerTable::Runner& runner, const std::string& why) {
  for (const std::string& run_id : runner.runs) {
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr, why);
  }
}

void RunnerProtocol::Tick() {
  const auto now = clock_.Now();
  for (const RunnerTable::Runner& dead : runners_.Expire(now - heartbeat_ * liveness_)) {
    spdlog::warn("runner {} silent for {} heartbeats; its {} runs are lost", dead.id, liveness_,
                 dead.runs.size());
    LoseRuns(dead, "runner " + dead.id + " stopped answering");
  }
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    const std::string run_id = it->first;
    const bool still_out = IsCurrent(run_id, it->second.attempt);
    it = unclaimed_.erase(it);
    if (still_out) runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                       "no runner claimed it after the broker restarted");
  }
  if (now >= next_heartbeat_) {
    // Heartbeats to every runner keep both sides' liveness checks honest.
    next_heartbeat_ = now + heartbeat_;
    for (const std::string& id : runners_.Ids()) Send(id, broker_msg::kHeartbeat);
  }
}

common::Clock::Mono RunnerProtocol::NextDeadline() const {
  auto next = next_heartbeat_;
  for (const auto& [id, claim] : unclaimed_) next = std::min(next, claim.deadline);
  return next;
}

}  // namespace broker
