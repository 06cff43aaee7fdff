// LogRelay: `run.log` through the broker (PROTOCOL.md, "Logs through the
// broker"). A run's log stays on the host of the runner that ran it; the
// relay asks that runner for a piece (log.read) and answers the control
// request when the piece (log.chunk) comes back, or says why it cannot:
// no such run, no log yet, the runner gone, too old, or silent.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "broker/run_manager.h"
#include "broker/store.h"
#include "common/clock.h"
#include "schemas/messages.h"

namespace broker {

class LogRelay {
 public:
  // Sends the answer to the control request `ticket` names.
  using Respond = std::function<void(std::uint64_t ticket, const schemas::ControlReply&)>;
  // At most this many requests wait on runners at once; more are refused.
  static constexpr std::size_t kMaxPending = 64;
  // The most one read asks for (a runner caps it too): a log.chunk must
  // stay well inside a work frame's 64 KiB bin limit.
  static constexpr std::uint32_t kMaxReadBytes = 32 * 1024;

  // Everything borrowed must outlive the relay.
  LogRelay(RunManager& manager, Store& store, const common::Clock& clock, Respond respond,
           std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The run.log op (ControlHandler::AddDeferredOp): a reply now when it
  // cannot ask a runner, else nullopt and the answer comes through Respond.
  std::optional<schemas::ControlReply> Ask(const schemas::ControlRequest& request,
                                           std::uint64_t ticket);
  // A log.chunk from `runner_id` (already checked to speak for it).
  void OnChunk(const std::string& runner_id, const schemas::RunnerMessage& chunk);
  // Answers requests whose runner stayed silent past the timeout.
  void Tick();
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::uint64_t ticket;
    std::string runner_id;
    std::uint32_t attempt;
    common::Clock::Mono deadline;
  };

  RunManager& manager_;
  Store& store_;
  const common::Clock& clock_;
  Respond respond_;
  std::chrono::milliseconds timeout_;
  std::map<std::string, Pending> pending_;  // by the log.read's token
};

}  // namespace broker
