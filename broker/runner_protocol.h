// RunnerProtocol: the broker's side of the work socket (PROTOCOL.md, "The
// runner protocol, per attempt"). It keeps the runner table (hello,
// heartbeats, bye, silence) and decides whether a runner's message counts:
// only the runner an attempt was dispatched to, after its hello, echoing the
// dispatch's token, speaks for that attempt. It gives each dispatch a
// deadline to start, gives runs that were out when the broker restarted a
// window to be claimed by hello, and sends the broker's heartbeats. What a
// counted message means for the run is the RunLifecycle's business.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "broker/journal.h"
#include "broker/run_lifecycle.h"
#include "broker/runner_table.h"
#include "common/clock.h"
#include "schemas/codec.h"
#include "schemas/messages.h"

namespace broker {

struct ProtocolTiming {
  std::chrono::milliseconds heartbeat{1000};
  int liveness = 3;  // heartbeats of silence before a runner is gone
  std::chrono::milliseconds dispatch_timeout{30'000};
  std::chrono::milliseconds lease{0};  // 0: heartbeat x liveness
  std::chrono::milliseconds lease_grace{2000};
};

// TEST-ONLY: faults put into the protocol on purpose, so the interleaving
// test (tests/interleaving) can show it catches a protocol without each
// fence. Both default off, and nothing but that test ever sets them.
struct ProtocolMutations {
  bool no_attempt_fencing = false;  // Owns() ignores the attempt and token
  bool no_authority_check = false;  // Owns() ignores which runner speaks
};
// The process-wide switches (test-only, see ProtocolMutations).
inline ProtocolMutations test_only_mutations;

struct ProtocolCounters {
  std::uint64_t stale_results = 0;  // started/result/leases that did not count
  std::uint64_t refused_hellos = 0;
  std::uint64_t unstarted_dispatches = 0;  // lost to the dispatch deadline
  std::uint64_t redispatches = 0;  // sent again to a runner that reconnected without them
};

class RunnerProtocol {
 public:
  // Everything borrowed must outlive the protocol.
  RunnerProtocol(RunLifecycle& runs, RunnerTable& runners, Journal& journal,
                 const common::Clock& clock, ProtocolTiming timing);

  // 128 random bits as 32 hex digits: a dispatch's token.
  std::string NewToken();
  // Sends `dispatch` (its run already recorded dispatched with the same
  // token) and starts its deadline.
  void SendDispatch(const std::string& runner_id, const schemas::BrokerMessage& dispatch);
  // A run that was out with a runner when the broker stopped: a runner gets
  // a few heartbeats to claim it by hello, else the attempt is lost.
  void ExpectClaim(const std::string& run_id, std::uint32_t attempt);
  void OnMessage(const std::string& runner_id, const schemas::RunnerMessage& message);
  // Sends `m`, which changes no run (log.read), at the next turn, stamped
  // as every message to the runner is.
  void SendNow(const std::string& runner_id, schemas::BrokerMessage m);
  // Expires silent runners, unclaimed runs and unstarted dispatches; sends
  // heartbeats when due.
  void Tick();
  common::Clock::Mono NextDeadline() const;
  const ProtocolCounters& counters() const { return counters_; }
  // The lease every dispatch carries, and its kill grace.
  std::chrono::milliseconds lease() const { return timing_.lease; }
  std::chrono::milliseconds lease_grace() const { return timing_.lease_grace; }
  // How long a run lost with a silent runner waits before its retry: the
  // lease and the grace, and a heartbeat for broker frames still in flight
  // when we gave up (they may renew the lease once more).
  std::chrono::milliseconds LostRunHold() const {
    return timing_.lease + timing_.lease_grace + timing_.heartbeat;
  }
  // With CURVE: may the key a work message came with -- its ZAP User-Id,
  // common::UserIdOf -- speak for `runner_id`? A runner key only for the
  // runner_id it is bound to, an "any" key for every runner, any other or
  // no User-Id for none. OK, or the reason (for the log) when not.
  // A result (or `promoted`) that did not decode (`why`): its attempt, if
  // current, ends transient with the reason; the runner gets an ack naming
  // it either way, and drops the result.
  void OnRefusedResult(const std::string& runner_id, const schemas::RunnerMessageHeader& header,
                       const std::string& why);
  static common::Status KeyMaySpeakFor(std::string_view user_id, const std::string& runner_id);

 private:
  void OnHello(const std::string& runner_id, const schemas::RunnerMessage& m);
  void OnHeartbeat(RunnerTable::Runner& runner, const schemas::RunnerMessage& m);
  void OnStarted(const std::string& runner_id, const schemas::RunnerMessage& m);
  // A result or a `promoted`: a success only asks for promotion; the run
  // ends on `promoted` or any other outcome.
  void OnResult(const std::string& runner_id, const schemas::RunnerMessage& m);
  // Records what the runner says it holds; stale leases get a cancel.
  // Returns how many leases were current.
  std::size_t NoteHeld(RunnerTable::Runner& runner, const schemas::RunnerMessage& m);
  // `hold`: how long its pipelines may still run (AttemptEnded).
  void LoseRuns(const RunnerTable::Runner& runner, const std::string& why,
                std::chrono::milliseconds hold = std::chrono::milliseconds(0));
  // Sends `m`, stamped with what the broker has seen of that runner
  // (BrokerMessage.seen_seq, incarnation).
  void ToRunner(const std::string& runner_id, schemas::BrokerMessage m);
  // Stamps `m` with what the broker has seen of that runner.
  void Stamp(const std::string& runner_id, schemas::BrokerMessage& m);
  void Send(const std::string& runner_id, std::string_view type, const std::string& run_id = "",
            std::uint32_t attempt = 0, const std::string& token = "",
            const std::string& error = "");
  // The run's current attempt is out (dispatched or running) and is `attempt`.
  bool IsCurrent(const std::string& run_id, std::uint32_t attempt) const;
  // `runner_id` said hello and holds the current attempt `attempt` of
  // `run_id` under `token`: only then does what it says about it count.
  bool Owns(const std::string& runner_id, const std::string& run_id, std::uint32_t attempt,
            const std::string& token) const;

  RunLifecycle& runs_;
  RunnerTable& runners_;
  Journal& journal_;
  const common::Clock& clock_;
  ProtocolTiming timing_;
  std::random_device entropy_;
  struct Deadline {
    common::Clock::Mono at;
    std::uint32_t attempt;
    // unstarted_: the dispatch as sent, for a reconnect that never got it.
    std::shared_ptr<const schemas::BrokerMessage> dispatch = nullptr;
  };
  std::map<std::string, Deadline> unclaimed_;  // after a restart, by run id
  std::map<std::string, Deadline> unstarted_;  // dispatched, not yet started
  common::Clock::Mono next_heartbeat_{};
  ProtocolCounters counters_;
};

}  // namespace broker
