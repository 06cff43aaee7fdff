// DeliveryQueue: one sink's bounded, in-order queue and the worker thread
// that drains it, retrying failures with exponential backoff (or the
// server's Retry-After) within a budget. A slow or dead sink only ever
// holds up its own queue.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "notifier/cursor_file.h"
#include "notifier/dead_letters.h"
#include "notifier/sink.h"

namespace notifier {

struct RetryPolicy {
  std::chrono::milliseconds initial{1000};  // first backoff
  std::chrono::milliseconds max{60000};     // backoff cap (Retry-After is not capped)
  std::chrono::milliseconds budget{600000}; // give up once a retry would start later than this after queueing
  int max_attempts = 10;
};

struct QueueStats {
  std::uint64_t delivered = 0;
  std::uint64_t retries = 0;        // failed attempts that were retried
  std::uint64_t undeliverable = 0;  // given up: budget, permanent refusal or overflow
  std::uint64_t overflowed = 0;     // of those, pushed out of a full queue
  std::size_t queued = 0;
};

class DeliveryQueue {
 public:
  // `cursor_path` keeps the last seq this sink finished with (empty: not
  // kept). `clock` and `abort` are borrowed and must outlive the queue;
  // `abort` is the flag the sink's transfers also watch.
  DeliveryQueue(std::unique_ptr<Sink> sink, RetryPolicy policy, std::size_t limit,
                std::string cursor_path, const common::Clock& clock, const std::atomic<bool>& abort);
  ~DeliveryQueue();
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // Reads this sink's own cursor, then starts the worker.
  common::Status Start();
  // The broker store the events come from, learnt before the first Push:
  // a cursor of another incarnation is rebased (Rebase) to where that
  // store's own events begin, and later cursors name `store`.
  void Adopt(const StoreIdentity& store);

  const std::string& name() const { return name_; }
  // False when this sink already finished `seq` before a restart.
  bool Wants(std::uint64_t seq) const { return seq > persisted_at_start_; }
  // True when Push may be called: there is room, or the sink is failing
  // and a full queue will give up its oldest waiting message instead.
  bool HasRoom() const;
  // Queues `n` (in seq order). REQUIRES: HasRoom().
  void Push(const Notification& n);
  // Queues `n` again because an operator asked (notifications.redeliver),
  // whatever Wants says and whatever room there is: its outcome goes to
  // the dead letters (set_dead_letters), and it moves no cursor.
  void Redeliver(const Notification& n);
  // Where give-ups go (null: only the log, as before). With one, a worker
  // that gives up waits until the broker has recorded the letter before
  // it moves past the event. Shared: a worker may still be waiting in it
  // when the notifier that made it is gone.
  void set_dead_letters(std::shared_ptr<DeadLetterOutbox> outbox) {
    std::lock_guard lock(mu_);
    dead_letters_ = std::move(outbox);
  }
  // The highest seq such that this sink has finished with every event up to
  // it, given that the notifier has offered events through `offered`.
  std::uint64_t FinishedThrough(std::uint64_t offered) const;
  bool Idle() const;
  QueueStats stats() const;

  // Stops taking new work once the queue is empty or waiting on a backoff;
  // Join() then waits for the worker (set `abort` first to cut it short).
  void BeginDrain();
  void Join();

 private:
  struct Entry {
    Notification n;
    common::Clock::Mono queued_at;
    int attempts = 0;
    bool redelivery = false;  // Redeliver's: outside the seq order and the cursors
  };
  void Work();
  // Pops the front entry; returns the seq to persist, or 0.
  std::uint64_t FinishFront(bool delivered);
  // The give-up as the broker records it. REQUIRES: mu_ held.
  schemas::DeadLetter LetterFor(const Entry& e, const std::string& reason) const;
  // The first entry in seq order (not a redelivery), or null. REQUIRES: mu_ held.
  const Entry* FirstInOrder() const;
  // common::EqualJitterBackoff for the `attempts`th failure. Worker only.
  std::chrono::milliseconds Backoff(int attempts);
  void Persist(std::uint64_t seq);

  std::string name_;
  std::unique_ptr<Sink> sink_;
  RetryPolicy policy_;
  std::size_t limit_;
  CursorFile cursor_;
  bool persist_;
  const common::Clock& clock_;
  const std::atomic<bool>& abort_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;  // the front is the one being tried
  common::Clock::Mono next_try_{};
  bool failing_ = false;
  bool draining_ = false;
  int since_persist_ = 0;
  std::uint64_t finished_through_ = 0;  // the last event in order finished
  std::uint64_t persisted_at_start_ = 0;
  CursorPosition loaded_;    // this sink's cursor as Start found it
  std::string incarnation_;  // guarded by mu_: the store incarnation cursors name
  QueueStats stats_;
  std::shared_ptr<DeadLetterOutbox> dead_letters_;  // guarded by mu_
  std::mt19937_64 random_{std::random_device{}()};  // the worker's, for Backoff
  std::thread worker_;
};

}  // namespace notifier
