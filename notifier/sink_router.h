// SinkRouter: hands each event to the delivery queues whose routes want it
// (by team and topic), and tells the notifier how far every queue is done,
// which is as far as the durable cursor may move.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "notifier/delivery_queue.h"
#include "notifier/notifier_config.h"
#include "notifier/sink.h"
#include "notifier/sink_kind.h"

namespace notifier {

// Events of `team` (or of every team not in `except`, when `team` is
// unset) whose topic matches `events` go to queue number `queue`.
struct Route {
  std::size_t queue = 0;
  std::optional<std::uint32_t> team;
  std::set<std::uint32_t> except;
  std::vector<std::string> events;
};

class SinkRouter {
 public:
  // `clock` is borrowed and must outlive the router.
  explicit SinkRouter(const common::Clock& clock) : clock_(clock) {}
  ~SinkRouter();
  SinkRouter(const SinkRouter&) = delete;
  SinkRouter& operator=(const SinkRouter&) = delete;

  // Adds a destination and returns its index for routes. `cursor_path`
  // keeps the sink's own progress (empty: none). Sinks should watch
  // abort_flag() to cut transfers short at shutdown.
  std::size_t AddQueue(std::unique_ptr<Sink> sink, RetryPolicy policy, std::size_t limit,
                       std::string cursor_path);
  void AddRoute(Route route);
  const std::atomic<bool>* abort_flag() const { return &abort_; }

  // Starts every queue's worker.
  common::Status Start();
  // Tells every queue which broker store the events come from (before the
  // first Offer, or when a store first names itself).
  void Adopt(const StoreIdentity& store);

  // Queues `n` for every destination that wants it. False, with nothing
  // queued anywhere, when one of them is full and healthy: offer it again
  // later (back-pressure; the broker's log keeps it meanwhile).
  bool Offer(const Notification& n);
  // Every event through the returned seq is finished by every destination,
  // given the notifier has offered events through `offered`.
  std::uint64_t FinishedThrough(std::uint64_t offered) const;
  bool Idle() const;
  // Lets queues finish what they can within `grace`, then aborts and joins.
  void Stop(std::chrono::milliseconds grace);
  std::vector<std::pair<std::string, QueueStats>> Stats() const;
  std::vector<std::string> Destinations() const;
  // The destination called `name`, or null.
  DeliveryQueue* Find(const std::string& name) const;
  // Every queue's give-ups go to `outbox` (DeliveryQueue::set_dead_letters).
  void SetDeadLetters(const std::shared_ptr<DeadLetterOutbox>& outbox);

 private:
  const common::Clock& clock_;
  std::atomic<bool> abort_{false};
  std::vector<std::unique_ptr<DeliveryQueue>> queues_;
  std::vector<Route> routes_;
  bool stopped_ = false;
};

// Adds the destinations every sink kind of `config` asks for, with their
// routes (global and per team). Each keeps its own cursor
// in `<cursor_path>.<destination>` (none when `cursor_path` is empty).
void BuildRoutes(const NotifierConfig& config, const std::string& cursor_path, SinkRouter& router);

}  // namespace notifier
