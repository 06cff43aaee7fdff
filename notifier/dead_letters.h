// DeadLetterOutbox: what the delivery threads hand the notifier's loop for
// the broker (notifications.sync): events they gave up on, and
// redeliveries that got through. A thread that gives up waits here until
// the broker has recorded the letter, so its event is not finished (its
// cursors do not pass it) before the give-up is durable: a crash between
// the two replays the event instead of losing it. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "schemas/messages.h"

namespace notifier {

class DeadLetterOutbox {
 public:
  // What one notifications.sync carries.
  struct Batch {
    std::vector<std::uint64_t> ids;  // for Recorded
    std::vector<schemas::DeadLetter> dead_letters;
    std::vector<schemas::DeadLetter> delivered;
    bool empty() const { return ids.empty(); }
  };

  DeadLetterOutbox() = default;
  DeadLetterOutbox(const DeadLetterOutbox&) = delete;
  DeadLetterOutbox& operator=(const DeadLetterOutbox&) = delete;

  // A delivery thread gave up on `letter`: waits until the loop has had it
  // recorded (true), or until `abort` (false: withdrawn, not recorded).
  bool Record(schemas::DeadLetter letter, const std::atomic<bool>& abort);
  // The same without waiting, for give-ups no thread can wait on (a full
  // queue shedding its oldest, from the loop's own thread).
  void Post(schemas::DeadLetter letter);
  // A redelivery of (sink, seq) got through.
  void Delivered(const std::string& sink, std::uint64_t seq);

  // The loop: a redelivery of (sink, seq) starts; false when one is in
  // flight already (pushed, and its outcome not yet recorded).
  bool BeginRedelivery(const std::string& sink, std::uint64_t seq);
  bool InFlight(const std::string& sink, std::uint64_t seq) const;
  // The loop: a redelivery begun was not queued after all.
  void EndRedelivery(const std::string& sink, std::uint64_t seq);
  // The loop: the queues redeliveries were pushed to are gone (a reload);
  // whatever they held is asked for again at the next sync.
  void ForgetRedeliveries();

  // The loop: up to `max` of each kind, oldest first, for the next sync.
  Batch Waiting(std::size_t max) const;
  // The broker wrote `batch`: waiters return, and the redeliveries it
  // reports are no longer in flight.
  void Recorded(const Batch& batch);
  bool HasWaiting() const;

 private:
  using Key = std::pair<std::string, std::uint64_t>;
  struct Item {
    schemas::DeadLetter letter;
    bool delivered = false;  // a redelivery's success, else a give-up
  };
  std::uint64_t Add(Item item);  // REQUIRES: mu_ held

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Item> waiting_;
  std::set<Key> in_flight_;
};

}  // namespace notifier
