// TeamQueue: one active run per team. It knows which run holds each team's
// lock, the runs queued behind it (overlap policy "queue") in order, and the
// runs ready for a runner slot. Pure bookkeeping: no store, no clock; the
// RunManager records every state change these decisions imply.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace broker {

class TeamQueue {
 public:
  // The run holding `team`'s lock, if any.
  std::optional<std::string> Holder(std::uint32_t team) const;
  // Busy: a run holds the lock, or runs are queued (a new run must wait).
  bool Busy(std::uint32_t team) const;
  // REQUIRES: the team is not locked.
  void Lock(std::uint32_t team, const std::string& run_id);
  void Enqueue(std::uint32_t team, const std::string& run_id);
  // Takes `run_id` out of the team's queue (a cancelled queued run).
  void Dequeue(std::uint32_t team, const std::string& run_id);
  // Releases the lock if `run_id` holds it, and returns the next queued run
  // for which `still_waiting` is true (it now holds the lock), if any.
  template <typename Pred>
  std::optional<std::string> Release(std::uint32_t team, const std::string& run_id, Pred still_waiting);
  // Gives the lock of an unlocked `team` to its first queued run for which
  // `still_waiting` is true, and returns that run.
  template <typename Pred>
  std::optional<std::string> PromoteNext(std::uint32_t team, Pred still_waiting);
  // Teams with queued runs but no lock holder (a crash between a run's end
  // and its successor's promotion leaves these).
  std::vector<std::uint32_t> OrphanQueues() const;

  // Runs waiting for a runner slot, oldest first.
  void MarkReady(const std::string& run_id) { ready_.push_back(run_id); }
  void PushReadyFront(const std::string& run_id) { ready_.push_front(run_id); }
  std::optional<std::string> PopReady();
  void RemoveReady(const std::string& run_id);
  bool HasReady() const { return !ready_.empty(); }

 private:
  std::unordered_map<std::uint32_t, std::string> lock_;
  std::unordered_map<std::uint32_t, std::deque<std::string>> queue_;
  std::deque<std::string> ready_;
};

template <typename Pred>
std::optional<std::string> TeamQueue::Release(std::uint32_t team, const std::string& run_id,
                                              Pred still_waiting) {
  auto lock = lock_.find(team);
  if (lock == lock_.end() || lock->second != run_id) return std::nullopt;
  lock_.erase(lock);
  return PromoteNext(team, still_waiting);
}

template <typename Pred>
std::optional<std::string> TeamQueue::PromoteNext(std::uint32_t team, Pred still_waiting) {
  auto queue = queue_.find(team);
  if (queue == queue_.end()) return std::nullopt;
  while (!queue->second.empty()) {
    std::string next = queue->second.front();
    queue->second.pop_front();
    if (!still_waiting(next)) continue;
    lock_[team] = next;
    if (queue->second.empty()) queue_.erase(queue);
    return next;
  }
  queue_.erase(queue);
  return std::nullopt;
}

}  // namespace broker
