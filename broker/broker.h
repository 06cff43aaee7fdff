// Broker: the event-bus proxy and the loop around RunManager. It forwards
// every published frame from XSUB to XPUB, feeds "due" frames, runner
// messages and control requests to their handlers, and sends what they
// queue. One thread, one zmq::poll.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "broker/control_handler.h"
#include "broker/log_relay.h"
#include "schemas/notifier_progress.h"
#include "broker/run_manager.h"
#include "broker/zap_handler.h"
#include "common/clock.h"
#include "common/status.h"

namespace broker {

struct BrokerSockets {
  zmq::socket_t* bus_in;   // XSUB, bound: publishers connect here
  zmq::socket_t* bus_out;  // XPUB, bound: subscribers connect here
  zmq::socket_t* control;  // ROUTER, bound
  zmq::socket_t* work;     // ROUTER, bound: runners connect here
  ZapHandler* zap = nullptr;  // CURVE authentication, when enabled
};

struct BrokerCounters {
  std::uint64_t bad_frames = 0;
  std::uint64_t forwarded = 0;
  // With CURVE: runner messages whose key may not speak for their runner,
  // control requests a publisher key may not send, and subscriptions a
  // key bound to teams may not make.
  std::uint64_t refused_keys = 0;
  std::uint64_t held_dues = 0;  // due events left unacknowledged while the disk was full
};

class Broker {
 public:
  // Sockets, manager, handler and clock are borrowed; they must outlive the
  // Broker.
  Broker(BrokerSockets sockets, RunManager& manager, ControlHandler& control,
         const common::Clock& clock);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Serves until `stop` is set. Returns an error only for socket failures.
  common::Status Run(const std::atomic<bool>& stop);

  const BrokerCounters& counters() const { return counters_; }
  // The notifier's latest progress report (notifier.progress on the bus)
  // as stats figures: notifier_lag_events (when its cursor is in the store
  // `incarnation`), notifier_report_age_ms, and per sink
  // notifier_sink_<queued|delivered|retries|undeliverable>:<sink>. None
  // before the first report.
  void AddNotifierFigures(std::map<std::string, std::int64_t>& stats,
                          const std::string& incarnation) const;

  // What a reload (SIGHUP, admin.reload) changes in the loop's state. Safe
  // from any thread: on the loop's own (admin.reload) it applies at once;
  // from another it is applied between two turns and RequestReload waits
  // for that (up to 5 s, or until Run starts), so what a reload reports
  // holds for every request after it.
  struct Reloaded {
    std::optional<std::map<std::string, common::KeyGrant>> keys;  // with CURVE: the listed keys
    TeamDefaults team_defaults;
    RetryPolicy retry;
  };
  void RequestReload(Reloaded reloaded);

  // Answers run.log by asking the runner that ran the run (LogRelay); the
  // run is read from `store`, which must outlive the Broker.
  void ServeRunLogs(Store& store, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Sends the answer to a control request that was answered later
  // (ControlHandler::HandleOrDefer), named by its ticket.
  void Respond(std::uint64_t ticket, const schemas::ControlReply& reply);

  // Runs `task` on the loop's thread every `every` (first `every` after
  // Run starts), between turns: it sees what the turn wrote. For upkeep
  // such as backups; a task must not block for long.
  void AddPeriodic(std::chrono::milliseconds every, std::function<void()> task) {
    periodic_.push_back({every, std::move(task), {}});
  }

 private:
  struct Periodic {
    std::chrono::milliseconds every;
    std::function<void()> task;
    common::Clock::Mono next;
  };
  void RunPeriodic();
  void ApplyReload();  // the pending one, if any

  void HandleBusFrame();
  // The subscriptions subscribers send (the XPUB is manual): each applied
  // unless its key may not see it (KeyMaySubscribe), which is logged.
  void HandleSubscriptions();
  void HandleControl();
  void HandleWork();
  // With CURVE: false (the request answered with a refusal) when the key's
  // role may not send it (a publisher key: PublisherMayAsk).
  bool MayAsk(std::vector<zmq::message_t>& parts);
  // Records a manual due event (or one refused for its key) in the audit log.
  // `named`: requested_by is the sending key's name, not a claim.
  void AuditDue(const schemas::DueEvent& due, const std::string& run_id, const std::string& error,
                bool named);
  // Whether a work frame may speak as `runner_id`: sent from that socket
  // identity and, with CURVE, by the key bound to it. Logs and counts a no.
  bool MaySpeak(const std::string& identity, const std::string& runner_id, const std::string& type,
                const zmq::message_t& frame);
  // Writes the pending group, then sends what it allows; false when the
  // write failed (the broker must stop).
  bool Flush();

  BrokerSockets sockets_;
  RunManager& manager_;
  struct NotifierReport {
    schemas::NotifierProgress progress;
    common::Clock::Mono at{};
  };
  std::optional<NotifierReport> notifier_report_;
  ControlHandler& control_;
  const common::Clock& clock_;
  BrokerCounters counters_;
  std::vector<Periodic> periodic_;
  std::mutex reload_mutex_;
  std::condition_variable reload_applied_;
  std::optional<Reloaded> pending_reload_;
  std::uint64_t reloads_requested_ = 0;  // guarded by reload_mutex_
  std::uint64_t reloads_applied_ = 0;    // guarded by reload_mutex_
  std::atomic<std::thread::id> loop_thread_{};
  std::unique_ptr<LogRelay> log_relay_;
  // Control requests to be answered later: each one's envelope, by ticket.
  std::map<std::uint64_t, std::vector<zmq::message_t>> deferred_;
  std::uint64_t next_ticket_ = 0;
};

}  // namespace broker
