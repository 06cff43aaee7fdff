#include "broker/team_queue.h"

#include <algorithm>

namespace broker {

std::optional<std::string> TeamQueue::Holder(std::uint32_t team) const {
  auto it = lock_.find(team);
  if (it == lock_.end()) return std::nullopt;
  return it->second;
}

bool TeamQueue::Busy(std::uint32_t team) const {
  if (lock_.count(team) != 0) return true;
  auto queue = queue_.find(team);
  return queue != queue_.end() && !queue->second.empty();
}

void TeamQueue::Lock(std::uint32_t team, const std::string& run_id) { lock_[team] = run_id; }

void TeamQueue::Enqueue(std::uint32_t team, const std::string& run_id) {
  queue_[team].push_back(run_id);
}

void TeamQueue::Dequeue(std::uint32_t team, const std::string& run_id) {
  auto queue = queue_.find(team);
  if (queue == queue_.end()) return;
  auto& q = queue->second;
  q.erase(std::remove(q.begin(), q.end(), run_id), q.end());
  if (q.empty()) queue_.erase(queue);
}

std::vector<std::uint32_t> TeamQueue::OrphanQueues() const {
  std::vector<std::uint32_t> teams;
  for (const auto& [team, queue] : queue_) {
    if (!queue.empty() && lock_.count(team) == 0) teams.push_back(team);
  }
  return teams;
}

std::optional<std::string> TeamQueue::PopReady() {
  if (ready_.empty()) return std::nullopt;
  std::string id = std::move(ready_.front());
  ready_.pop_front();
  return id;
}

void TeamQueue::RemoveReady(const std::string& run_id) {
  ready_.erase(std::remove(ready_.begin(), ready_.end(), run_id), ready_.end());
}

}  // namespace broker
