// FaultInjector: kills, stalls and cuts off the cluster's processes at
// random from a thread of its own (so a control call that waits for a
// restarted broker never stretches a stall): SIGKILL of runners, the
// broker, the ticker and the notifier; SIGSTOP of runners for 1-5 s; and,
// with a NetnsLab, a runner's link down for 2-10 s. A fault type that
// falls behind its --min-* share of the window is chosen first, so the
// minimums are met by design, not by luck.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/netns.h"
#include "tests/support/cluster.h"

namespace chaos {

struct FaultCounts {
  int broker_kills = 0, runner_kills = 0, stalls = 0, link_downs = 0;
  int ticker_kills = 0, notifier_kills = 0;
};

struct FaultSettings {
  int runners = 3;
  std::chrono::seconds window{60};
  FaultCounts minimum;  // what the window must hold at least
};

class FaultInjector {
 public:
  // `cluster`, `lab` (may be null) and `runner_slot` must outlive it;
  // `runner_slot` maps runner ids to their namespace slot and is written
  // before each replacement runner starts.
  FaultInjector(testing::Cluster& cluster, NetnsLab* lab,
                std::map<std::string, int>& runner_slot, std::uint64_t seed,
                FaultSettings settings);
  ~FaultInjector();  // stops the thread
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // Starts faulting now, for the settings' window.
  void Start();
  // Waits for the window to end, then continues every stalled runner and
  // brings every link up.
  void Finish();
  FaultCounts counts() const;
  // The runners started and not killed, in the order they were started.
  std::vector<std::string> live_runners() const;

 private:
  enum Kind { kBroker, kRunner, kStall, kLink, kTicker, kNotifier, kKinds };
  void Loop();
  Kind Choose(double fraction_done);
  void Inject(Kind kind);
  void Heal(bool all);
  std::string PickRunner();

  testing::Cluster& cluster_;
  NetnsLab* lab_;
  std::map<std::string, int>& runner_slot_;
  std::mt19937_64 rng_;
  FaultSettings settings_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  FaultCounts counts_;
  std::vector<std::string> live_;
  int next_runner_ = 0;
  using Time = std::chrono::steady_clock::time_point;
  std::map<std::string, Time> stalled_;  // runner -> continue at
  std::map<int, Time> links_down_;       // slot -> up again at
};

}  // namespace chaos
