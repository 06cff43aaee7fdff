// RunnerProtocol: the broker's side of the work socket. It keeps the runner
// table (hello, heartbeats, bye, silence), fences started/result by attempt,
// gives runs that were out when the broker restarted a window to be claimed
// by hello, and sends the broker's heartbeats. What a counted message means
// for the run is the RunLifecycle's business.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "broker/journal.h"
#include "broker/run_lifecycle.h"
#include "broker/runner_table.h"
#include "common/clock.h"
#include "schemas/messages.h"

namespace broker {

struct ProtocolCounters {
  std::uint64_t stale_results = 0;
  std::uint64_t refused_hellos = 0;
};

class RunnerProtocol {
 public:
  // Everything borrowed must outlive the protocol.
  RunnerProtocol(RunLifecycle& runs, RunnerTable& runners, Journal& journal,
                 const common::Clock& clock, std::chrono::milliseconds heartbeat,
                 int heartbeat_liveness);

  // A run that was out with a runner when the broker stopped: a runner gets
  // a few heartbeats to claim it by hello, else the attempt is lost.
  void ExpectClaim(const std::string& run_id, std::uint32_t attempt);
  void OnMessage(const std::string& runner_id, const schemas::RunnerMessage& message);
  // Expires silent runners and unclaimed runs; sends heartbeats when due.
  void Tick();
  common::Clock::Mono NextDeadline() const;
  const ProtocolCounters& counters() const { return counters_; }

 private:
  void OnHello(const std::string& runner_id, const schemas::RunnerMessage& m);
  void OnStarted(const std::string& runner_id, const schemas::RunnerMessage& m);
  void OnResult(const std::string& runner_id, const schemas::RunnerMessage& m);
  void LoseRuns(const RunnerTable::Runner& runner, const std::string& why);
  void Send(const std::string& runner_id, std::string_view type, const std::string& run_id = "",
            std::uint32_t attempt = 0);
  // The run's current attempt is out (dispatched or running) and is `attempt`.
  bool IsCurrent(const std::string& run_id, std::uint32_t attempt) const;

  RunLifecycle& runs_;
  RunnerTable& runners_;
  Journal& journal_;
  const common::Clock& clock_;
  std::chrono::milliseconds heartbeat_;
  int liveness_;
  struct Claim {
    common::Clock::Mono deadline;
    std::uint32_t attempt;
  };
  std::map<std::string, Claim> unclaimed_;  // after a restart, by run id
  common::Clock::Mono next_heartbeat_{};
  ProtocolCounters counters_;
};

}  // namespace broker
