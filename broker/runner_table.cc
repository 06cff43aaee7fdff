#include "broker/runner_table.h"

namespace broker {

void RunnerTable::Upsert(const std::string& id, std::uint32_t slots,
                         common::Clock::Mono now) {
  Runner& r = runners_[id];
  r.id = id;
  r.slots = slots;
  r.runs.clear();
  r.reported.clear();
  r.promoting.clear();
  r.started_seq.clear();
  r.last_seen = now;
}

bool RunnerTable::Touch(const std::string& id, common::Clock::Mono now) {
  auto it = runners_.find(id);
  if (it == runners_.end()) return false;
  it->second.last_seen = now;
  return true;
}

RunnerTable::Runner* RunnerTable::Find(const std::string& id) {
  auto it = runners_.find(id);
  return it == runners_.end() ? nullptr : &it->second;
}

std::vector<RunnerTable::Runner> RunnerTable::Expire(common::Clock::Mono cutoff) {
  std::vector<Runner> dead;
  for (auto it = runners_.begin(); it != runners_.end();) {
    if (it->second.last_seen < cutoff) {
      dead.push_back(std::move(it->second));
      it = runners_.erase(it);
    } else {
      ++it;
    }
  }
  return dead;
}

RunnerTable::Runner RunnerTable::Remove(const std::string& id) {
  Runner r;
  auto it = runners_.find(id);
  if (it != runners_.end()) {
    r = std::move(it->second);
    runners_.erase(it);
  }
  return r;
}

RunnerTable::Runner* RunnerTable::PickFree() { return PickFree(std::string()); }

RunnerTable::Runner* RunnerTable::PickFree(const std::string& run_id) {
  Runner* best = nullptr;
  std::size_t best_free = 0;
  for (auto& [id, r] : runners_) {
    if (!run_id.empty() && r.reported.count(run_id) != 0) continue;
    std::size_t busy = r.runs.size();
    for (const std::string& held : r.reported) busy += r.runs.count(held) == 0 ? 1 : 0;
    const std::size_t free = r.slots > busy ? r.slots - busy : 0;
    if (free > best_free) {
      best = &r;
      best_free = free;
    }
  }
  return best;
}

std::vector<std::string> RunnerTable::Ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, r] : runners_) ids.push_back(id);
  return ids;
}

}  // namespace broker
