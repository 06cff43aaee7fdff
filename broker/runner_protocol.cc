#include "broker/runner_protocol.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "common/security.h"

namespace broker {

using schemas::RunnerMessage;
using schemas::RunState;
namespace runner_msg = schemas::runner_msg;
namespace broker_msg = schemas::broker_msg;

RunnerProtocol::RunnerProtocol(RunLifecycle& runs, RunnerTable& runners, Journal& journal,
                               const common::Clock& clock, ProtocolTiming timing)
    : runs_(runs), runners_(runners), journal_(journal), clock_(clock), timing_(timing) {
  if (timing_.lease.count() <= 0) timing_.lease = timing_.heartbeat * timing_.liveness;
}

std::string RunnerProtocol::NewToken() {
  std::string token;
  for (int i = 0; i < 4; ++i) token += fmt::format("{:08x}", entropy_());
  return token;
}

void RunnerProtocol::SendDispatch(const std::string& runner_id,
                                  const schemas::BrokerMessage& dispatch) {
  unstarted_[dispatch.run_id] = {clock_.Now() + timing_.dispatch_timeout, dispatch.attempt,
                                 std::make_shared<const schemas::BrokerMessage>(dispatch)};
  // A new attempt: what an earlier one's `started` said no longer counts.
  if (RunnerTable::Runner* r = runners_.Find(runner_id)) r->started_seq.erase(dispatch.run_id);
  ToRunner(runner_id, dispatch);
}

void RunnerProtocol::ToRunner(const std::string& runner_id, schemas::BrokerMessage m) {
  // A heartbeat reports no state change: it goes out even while writes
  // wait for space, so the runners' leases hold through a full disk.
  if (m.type == broker_msg::kHeartbeat) {
    SendNow(runner_id, std::move(m));
    return;
  }
  Stamp(runner_id, m);
  journal_.SendToRunner(runner_id, m);
}

void RunnerProtocol::SendNow(const std::string& runner_id, schemas::BrokerMessage m) {
  Stamp(runner_id, m);
  journal_.SendToRunnerNow(runner_id, m);
}

void RunnerProtocol::Stamp(const std::string& runner_id, schemas::BrokerMessage& m) {
  if (const RunnerTable::Runner* r = runners_.Find(runner_id)) {
    m.seen_seq = r->seen_seq;
    m.incarnation = r->incarnation;
  }
}

void RunnerProtocol::ExpectClaim(const std::string& run_id, std::uint32_t attempt) {
  unclaimed_[run_id] = {clock_.Now() + timing_.heartbeat * (timing_.liveness + 1), attempt};
}

void RunnerProtocol::Send(const std::string& runner_id, std::string_view type,
                          const std::string& run_id, std::uint32_t attempt,
                          const std::string& token, const std::string& error) {
  schemas::BrokerMessage m;
  m.type = std::string(type);
  m.run_id = run_id;
  m.attempt = attempt;
  m.token = token;
  m.error = error;
  ToRunner(runner_id, std::move(m));
}

bool RunnerProtocol::IsCurrent(const std::string& run_id, std::uint32_t attempt) const {
  const schemas::RunRecord* run = runs_.FindActive(run_id);
  return run != nullptr && run->attempt == attempt && schemas::IsOut(run->state);
}

bool RunnerProtocol::Owns(const std::string& runner_id, const std::string& run_id,
                          std::uint32_t attempt, const std::string& token) const {
  if (runners_.Find(runner_id) == nullptr) return false;
  const schemas::RunRecord* run = runs_.FindActive(run_id);
  const ProtocolMutations& mutant = test_only_mutations;  // all off outside tests
  return run != nullptr && schemas::IsOut(run->state) &&
         (mutant.no_attempt_fencing ||
          (run->attempt == attempt && !token.empty() && run->token == token)) &&
         (mutant.no_authority_check || run->runner_id == runner_id);
}

common::Status RunnerProtocol::KeyMaySpeakFor(std::string_view user_id,
                                              const std::string& runner_id) {
  // Owns() asks whether a runner holds an attempt; this asks whether the
  // connection is that runner at all: a runner key is bound to one id.
  const std::optional<common::KeyGrant> grant = common::GrantOfUserId(user_id);
  if (!grant) {
    return common::Status::Error(common::Code::kRejected,
                                 "no CURVE identity (ZAP User-Id \"" + std::string(user_id) + "\")");
  }
  if (grant->role == common::KeyRole::kAny) return common::Status();  // authorized_clients, or no list
  if (grant->role != common::KeyRole::kRunner) {
    return common::Status::Error(common::Code::kRejected,
                                 "a " + std::string(common::RoleName(grant->role)) +
                                     " key may not act as a runner");
  }
  if (grant->runner_id != runner_id) {
    return common::Status::Error(common::Code::kRejected,
                                 "the key is bound to runner " + grant->runner_id);
  }
  return common::Status();
}

void RunnerProtocol::OnMessage(const std::string& runner_id, const RunnerMessage& m) {
  if (m.type == runner_msg::kHello) {
    OnHello(runner_id, m);
    runs_.Dispatch();
    return;
  }
  RunnerTable::Runner* runner = runners_.Find(runner_id);
  if (runner == nullptr) {
    // Not known (we restarted, or it was expired): nothing it says counts
    // until its hello has told us what it holds. Its results are resent.
    schemas::BrokerMessage reset;
    reset.type = std::string(broker_msg::kWelcome);
    reset.key = std::string(broker_msg::kHelloRequired);
    journal_.SendToRunner(runner_id, reset);
    return;
  }
  if (!m.incarnation.empty() && m.incarnation != runner->incarnation) {
    // An earlier life of this runner (killed, then restarted under its id):
    // what it says no longer describes anything that runs.
    ++counters_.stale_results;
    spdlog::warn("ignoring {} from an earlier process of runner {}", m.type, runner_id);
    return;
  }
  runners_.Touch(runner_id, clock_.Now());
  runner->seen_seq = std::max(runner->seen_seq, m.seq);
  if (m.type == runner_msg::kHeartbeat) OnHeartbeat(*runner, m);
  if (m.type == runner_msg::kStarted) OnStarted(runner_id, m);
  if (m.type == runner_msg::kResult || m.type == runner_msg::kPromoted) OnResult(runner_id, m);
  if (m.type == runner_msg::kBye) {
    LoseRuns(runners_.Remove(runner_id), "runner " + runner_id + " left");
  }
  runs_.Dispatch();
}

std::size_t RunnerProtocol::NoteHeld(RunnerTable::Runner& runner, const RunnerMessage& m) {
  runner.reported.clear();
  std::size_t current = 0;
  auto note = [&](const schemas::Lease& lease, bool running) {
    // Only what still runs there takes a slot and bars a new attempt.
    if (running) runner.reported.insert(lease.run_id);
    if (!Owns(runner.id, lease.run_id, lease.attempt, lease.token)) {
      // An attempt that is no longer current, or not this runner's: stop it.
      ++counters_.stale_results;
      if (running) Send(runner.id, broker_msg::kCancel, lease.run_id, lease.attempt, lease.token);
      return;
    }
    ++current;
    if (running) {
      runner.runs.insert(lease.run_id);
    } else if (runner.runs.count(lease.run_id) == 0) {
      runner.promoting.insert(lease.run_id);  // its result follows
    }
    unclaimed_.erase(lease.run_id);
    // It holds the dispatch, or finished it: if its `started` went to a
    // broker that did not know it yet, the attempt started all the same.
    const schemas::RunRecord* run = runs_.FindActive(lease.run_id);
    if (run != nullptr && run->state == RunState::kDispatched) {
      unstarted_.erase(lease.run_id);
      runs_.AttemptStarted(lease.run_id, runner.id, "");
    }
    if (running && runner.started_seq.count(lease.run_id) == 0) runner.started_seq[lease.run_id] = m.seq;
  };
  for (const schemas::Lease& lease : m.holding) note(lease, true);
  for (const schemas::Lease& lease : m.finished) note(lease, false);
  return current;
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
  std::set<std::string> had;
  bool same_process = false;
  if (RunnerTable::Runner* previous = runners_.Find(runner_id)) {
    had = previous->runs;
    had.insert(previous->promoting.begin(), previous->promoting.end());
    same_process = previous->incarnation == m.incarnation;
  }
  runners_.Upsert(runner_id, m.slots, clock_.Now());
  RunnerTable::Runner& runner = *runners_.Find(runner_id);
  runner.incarnation = m.incarnation;
  runner.seen_seq = m.seq;
  runner.protocol = protocol;
  const std::size_t current = NoteHeld(runner, m);
  schemas::BrokerMessage welcome;
  welcome.type = std::string(broker_msg::kWelcome);
  welcome.protocol = schemas::kWorkProtocol;
  ToRunner(runner_id, std::move(welcome));
  spdlog::info("runner {} ready with {} slots, holding {} runs (work protocol {})", runner_id,
               m.slots, current, protocol);
  for (const std::string& run_id : had) {
    if (runner.runs.count(run_id) != 0 || runner.promoting.count(run_id) != 0) continue;
    const schemas::RunRecord* run = runs_.FindActive(run_id);
    if (run == nullptr || run->runner_id != runner_id || !schemas::IsOut(run->state)) continue;
    if (run->state == RunState::kDispatched) {
      // The hello may have left before the dispatch arrived: the dispatch
      // deadline, not this hello, decides whether it was lost.
      runner.runs.insert(run_id);
      // The same process said hello again: it reconnected, and a dispatch
      // sent to its old socket died with it unread (else it would hold
      // it). The same dispatch again, same token: a copy it did get is
      // ignored by token, so this cannot start the attempt twice, and the
      // run does not sit out the whole deadline for nothing. Another
      // process's hello proves nothing about the old one: its deadline.
      auto unstarted = unstarted_.find(run_id);
      if (same_process && unstarted != unstarted_.end() && unstarted->second.dispatch &&
          unstarted->second.attempt == run->attempt) {
        spdlog::info("runner {} reconnected without the dispatch of {} attempt {}; sent again",
                     runner_id, run_id, run->attempt);
        unstarted->second.at = clock_.Now() + timing_.dispatch_timeout;
        ++counters_.redispatches;
        ToRunner(runner_id, *unstarted->second.dispatch);
      }
      continue;
    }
    // It had started it, and neither holds it nor has a result for it now.
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                       "runner " + runner_id + " restarted and lost it");
  }
}

void RunnerProtocol::OnHeartbeat(RunnerTable::Runner& runner, const RunnerMessage& m) {
  NoteHeld(runner, m);
  // A run this runner started that a newer heartbeat of the same process
  // names neither as held nor as finished is gone from it (e.g. the
  // `started` came from its earlier life and crossed its new hello).
  std::set<std::string> named;
  for (const schemas::Lease& lease : m.holding) named.insert(lease.run_id);
  for (const schemas::Lease& lease : m.finished) named.insert(lease.run_id);
  std::vector<std::string> gone;
  for (const auto& [run_id, seq] : runner.started_seq) {
    if (named.count(run_id) != 0 || m.seq <= seq) continue;
    if (runner.runs.count(run_id) == 0 && runner.promoting.count(run_id) == 0) continue;
    const schemas::RunRecord* run = runs_.FindActive(run_id);
    if (run != nullptr && run->runner_id == runner.id && run->state == RunState::kRunning) {
      gone.push_back(run_id);
    }
  }
  for (const std::string& run_id : gone) {
    runner.runs.erase(run_id);
    runner.promoting.erase(run_id);
    runner.started_seq.erase(run_id);
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                       "runner " + runner.id + " no longer holds it");
  }
}

void RunnerProtocol::OnStarted(const std::string& runner_id, const RunnerMessage& m) {
  const schemas::RunRecord* run = runs_.FindActive(m.run_id);
  if (!Owns(runner_id, m.run_id, m.attempt, m.token) || run->state != RunState::kDispatched) {
    ++counters_.stale_results;
    spdlog::warn("ignoring started for {} attempt {} from {}: not its current dispatch",
                 m.run_id, m.attempt, runner_id);
    // A late start of an attempt we gave up on must not run on.
    if (!IsCurrent(m.run_id, m.attempt) || run->runner_id != runner_id) {
      Send(runner_id, broker_msg::kCancel, m.run_id, m.attempt, m.token);
    }
    return;
  }
  unstarted_.erase(m.run_id);
  if (RunnerTable::Runner* r = runners_.Find(runner_id)) r->started_seq[m.run_id] = m.seq;
  runs_.AttemptStarted(m.run_id, runner_id, m.log_path);
}

void RunnerProtocol::OnResult(const std::string& runner_id, const RunnerMessage& m) {
  if (!Owns(runner_id, m.run_id, m.attempt, m.token)) {
    ++counters_.stale_results;
    spdlog::warn("stale result for {} attempt {} from {} ignored", m.run_id, m.attempt, runner_id);
    // Answered all the same, so the runner stops resending it and drops it.
    Send(runner_id, broker_msg::kAck, m.run_id, m.attempt, m.token,
         "not the current attempt of this run on this runner");
    return;
  }
  unclaimed_.erase(m.run_id);
  unstarted_.erase(m.run_id);
  // A result that overtook its `started` proves the attempt started: it is
  // running from here, so a hello or silence of its runner loses it (with
  // its dispatch deadline gone, nothing else would end it).
  if (runs_.FindActive(m.run_id)->state == RunState::kDispatched) {
    runs_.AttemptStarted(m.run_id, runner_id, m.log_path);
  }
  if (m.type == runner_msg::kResult && m.outcome == schemas::outcome::kSucceeded) {
    // A success is committed in steps: this attempt is current, so its
    // runner may publish the outputs; the run succeeds once it says it did.
    // Its pipeline has exited: the slot is free for the next run.
    if (RunnerTable::Runner* r = runners_.Find(runner_id)) {
      r->runs.erase(m.run_id);
      r->promoting.insert(m.run_id);
    }
    Send(runner_id, broker_msg::kPromote, m.run_id, m.attempt, m.token);
    return;
  }
  if (RunnerTable::Runner* r = runners_.Find(runner_id)) {
    r->runs.erase(m.run_id);
    r->promoting.erase(m.run_id);
  }
  runs_.AttemptEnded(m.run_id, m.outcome, &m, m.error);
  // The ack leaves only after the journal wrote the run's end.
  Send(runner_id, broker_msg::kAck, m.run_id, m.attempt, m.token);
}

void RunnerProtocol::OnRefusedResult(const std::string& runner_id,
                                     const schemas::RunnerMessageHeader& header,
                                     const std::string& why) {
  const std::string error = "result refused: " + why;
  if (Owns(runner_id, header.run_id, header.attempt, header.token)) {
    unclaimed_.erase(header.run_id);
    unstarted_.erase(header.run_id);
    if (RunnerTable::Runner* r = runners_.Find(runner_id)) {
      r->runs.erase(header.run_id);
      r->promoting.erase(header.run_id);
    }
    runs_.AttemptEnded(header.run_id, schemas::outcome::kTransient, nullptr, error);
  } else {
    ++counters_.stale_results;
  }
  Send(runner_id, broker_msg::kAck, header.run_id, header.attempt, header.token, error);
}

void RunnerProtocol::LoseRuns(const RunnerTable::Runner& runner, const std::string& why,
                              std::chrono::milliseconds hold) {
  std::set<std::string> held = runner.runs;
  held.insert(runner.promoting.begin(), runner.promoting.end());
  for (const std::string& run_id : held) {
    const schemas::RunRecord* run = runs_.FindActive(run_id);
    if (run == nullptr || run->runner_id != runner.id) continue;
    unstarted_.erase(run_id);
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr, why, hold);
  }
}

void RunnerProtocol::Tick() {
  const auto now = clock_.Now();
  for (const RunnerTable::Runner& dead : runners_.Expire(now - timing_.heartbeat * timing_.liveness)) {
    spdlog::warn("runner {} silent for {} heartbeats; its {} runs are lost", dead.id,
                 timing_.liveness, dead.runs.size());
    // Its pipelines may run on (it is stopped or cut off) until their
    // leases lapse: the retry waits for that, not for the backoff only.
    LoseRuns(dead, "runner " + dead.id + " stopped answering", LostRunHold());
  }
  for (auto it = unclaimed_.begin(); it != unclaimed_.end();) {
    if (it->second.at > now) {
      ++it;
      continue;
    }
    const std::string run_id = it->first;
    const bool still_out = IsCurrent(run_id, it->second.attempt);
    it = unclaimed_.erase(it);
    if (still_out) {
      unstarted_.erase(run_id);
      // Its runner may be cut off with the pipeline still going.
      runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                         "no runner claimed it after the broker restarted", LostRunHold());
    }
  }
  for (auto it = unstarted_.begin(); it != unstarted_.end();) {
    const schemas::RunRecord* run = runs_.FindActive(it->first);
    if (run == nullptr || run->attempt != it->second.attempt ||
        run->state != RunState::kDispatched) {
      it = unstarted_.erase(it);
      continue;
    }
    if (it->second.at > now) {
      ++it;
      continue;
    }
    const std::string run_id = it->first;
    const std::string runner_id = run->runner_id;
    const std::uint32_t attempt = run->attempt;
    it = unstarted_.erase(it);
    ++counters_.unstarted_dispatches;
    // If the dispatch arrives after all, the runner must not run it; until it
    // says otherwise it may hold it, so it gets no new attempt of this run.
    Send(runner_id, broker_msg::kCancel, run_id, attempt, run->token);
    if (RunnerTable::Runner* r = runners_.Find(runner_id)) {
      r->runs.erase(run_id);
      r->reported.insert(run_id);
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timing_.dispatch_timeout);
    runs_.AttemptEnded(run_id, schemas::outcome::kTransient, nullptr,
                       fmt::format("runner {} did not start attempt {} within {} s", runner_id,
                                   attempt, seconds.count()));
  }
  if (now >= next_heartbeat_) {
    // Heartbeats to every runner keep both sides' liveness checks honest.
    next_heartbeat_ = now + timing_.heartbeat;
    for (const std::string& id : runners_.Ids()) Send(id, broker_msg::kHeartbeat);
  }
}

common::Clock::Mono RunnerProtocol::NextDeadline() const {
  auto next = next_heartbeat_;
  for (const auto& [id, claim] : unclaimed_) next = std::min(next, claim.at);
  for (const auto& [id, dispatch] : unstarted_) next = std::min(next, dispatch.at);
  return next;
}

}  // namespace broker
