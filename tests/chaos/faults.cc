#include "tests/chaos/faults.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>

namespace chaos {

using namespace std::chrono;

FaultInjector::FaultInjector(testing::Cluster& cluster, NetnsLab* lab,
                             std::map<std::string, int>& runner_slot, std::uint64_t seed,
                             FaultSettings settings)
    : cluster_(cluster), lab_(lab), runner_slot_(runner_slot), rng_(seed),
      settings_(settings), next_runner_(settings.runners) {
  for (int i = 1; i <= settings_.runners; ++i) live_.push_back(fmt::format("runner-{}", i));
}

FaultInjector::~FaultInjector() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void FaultInjector::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void FaultInjector::Finish() {
  if (thread_.joinable()) thread_.join();
}

FaultCounts FaultInjector::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

std::vector<std::string> FaultInjector::live_runners() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

void FaultInjector::Loop() {
  const Time start = steady_clock::now();
  const Time end = start + settings_.window;
  Time next_fault = start + milliseconds(700);
  // About half as many faults again as the minimums ask for, 0.3-3 s
  // apart on average: more would leave the broker too little time between
  // restarts to do the work whose survival is being proved.
  const FaultCounts& m = settings_.minimum;
  const int wanted = (m.broker_kills + m.runner_kills + m.stalls + m.link_downs) * 3 / 2;
  const auto mean = std::clamp<milliseconds::rep>(
      wanted == 0 ? 900 : duration_cast<milliseconds>(settings_.window).count() / wanted, 300, 3000);
  while (!stop_.load() && steady_clock::now() < end) {
    Heal(false);
    const Time now = steady_clock::now();
    if (now >= next_fault) {
      Inject(Choose(duration<double>(now - start) / settings_.window));
      next_fault = steady_clock::now() + milliseconds(mean / 3 + rng_() % (mean * 4 / 3));
    }
    std::this_thread::sleep_for(milliseconds(20));  // fault timing, not synchronisation
  }
  Heal(true);
}

FaultInjector::Kind FaultInjector::Choose(double fraction_done) {
  const FaultCounts& c = counts_;
  const FaultCounts& m = settings_.minimum;
  // Behind schedule for a minimum (with 10% to spare): that kind first.
  const std::pair<Kind, double> owed[] = {
      {kBroker, 1.1 * m.broker_kills * fraction_done - c.broker_kills},
      {kRunner, 1.1 * m.runner_kills * fraction_done - c.runner_kills},
      {kStall, 1.1 * m.stalls * fraction_done - c.stalls},
      {kLink, lab_ == nullptr ? 0.0 : 1.1 * m.link_downs * fraction_done - c.link_downs},
  };
  const auto most = std::max_element(std::begin(owed), std::end(owed),
                                     [](const auto& x, const auto& y) { return x.second < y.second; });
  if (most->second >= 1.0) return most->first;
  // Otherwise by weight: runner kills most, the ticker and notifier least.
  static constexpr int kWeights[kKinds] = {4, 10, 4, 4, 1, 1};
  int total = 0;
  for (int k = 0; k < kKinds; ++k) total += (k == kLink && lab_ == nullptr) ? 0 : kWeights[k];
  int pick = static_cast<int>(rng_() % total);
  for (int k = 0; k < kKinds; ++k) {
    if (k == kLink && lab_ == nullptr) continue;
    if ((pick -= kWeights[k]) < 0) return static_cast<Kind>(k);
  }
  return kRunner;
}

std::string FaultInjector::PickRunner() {
  std::vector<std::string> candidates;
  for (const std::string& id : live_) {
    if (stalled_.count(id) == 0 && cluster_.runner(id).running()) candidates.push_back(id);
  }
  return candidates.empty() ? "" : candidates[rng_() % candidates.size()];
}

void FaultInjector::Inject(Kind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  switch (kind) {
    case kBroker:
      cluster_.StopBroker(SIGKILL);
      cluster_.StartBroker();
      ++counts_.broker_kills;
      return;
    case kTicker:
      cluster_.StopTicker(SIGKILL);
      cluster_.StartTicker();
      ++counts_.ticker_kills;
      return;
    case kNotifier:
      cluster_.StopNotifier(SIGKILL);
      cluster_.StartNotifier();
      ++counts_.notifier_kills;
      return;
    case kStall: {
      // The runner's pipelines go on while it cannot answer.
      const std::string victim = PickRunner();
      if (victim.empty()) return;
      cluster_.runner(victim).Signal(SIGSTOP);
      stalled_[victim] = steady_clock::now() + milliseconds(1000 + rng_() % 4000);
      ++counts_.stalls;
      return;
    }
    case kLink: {
      // Keep one link up, so work goes on somewhere.
      std::vector<int> up;
      for (int s = 0; s < lab_->slots(); ++s) {
        if (links_down_.count(s) == 0) up.push_back(s);
      }
      if (up.size() < 2) return;
      const int slot = up[rng_() % up.size()];
      if (!lab_->SetLink(slot, false)) return;
      links_down_[slot] = steady_clock::now() + milliseconds(2000 + rng_() % 8000);
      ++counts_.link_downs;
      return;
    }
    case kRunner:
    case kKinds: {
      const std::string victim = PickRunner();
      if (victim.empty()) return;
      cluster_.StopRunner(victim, SIGKILL);
      live_.erase(std::find(live_.begin(), live_.end(), victim));
      ++counts_.runner_kills;
      // Its replacement takes its place, in its namespace.
      const std::string id = fmt::format("runner-{}", ++next_runner_);
      runner_slot_[id] = runner_slot_[victim];
      cluster_.StartRunner(id);
      live_.push_back(id);
      return;
    }
  }
}

void FaultInjector::Heal(bool all) {
  std::lock_guard<std::mutex> lock(mu_);
  const Time now = steady_clock::now();
  for (auto it = stalled_.begin(); it != stalled_.end();) {
    if (!all && now < it->second) {
      ++it;
      continue;
    }
    cluster_.runner(it->first).Signal(SIGCONT);
    it = stalled_.erase(it);
  }
  for (auto it = links_down_.begin(); it != links_down_.end();) {
    if (!all && now < it->second) {
      ++it;
      continue;
    }
    lab_->SetLink(it->first, true);
    it = links_down_.erase(it);
  }
}

}  // namespace chaos
