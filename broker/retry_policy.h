// RetryPolicy: whether a failed attempt is tried again, and after how long.
// The configured policy, with a team's own settings over it.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>

#include "schemas/messages.h"

namespace broker {

struct RetryPolicy {
  std::chrono::milliseconds initial{30'000};
  std::chrono::milliseconds max{900'000};
  bool retry_any_failure = false;  // retry_on = any

  // The team's own retry_on and backoff over this policy.
  RetryPolicy For(const schemas::TeamRecord* team) const;
  // Whether an attempt with `outcome` may be tried again (attempts left aside).
  bool Retries(std::string_view outcome) const;
};

// Draws jittered backoff delays; seeded, so tests are repeatable.
class Backoff {
 public:
  explicit Backoff(std::uint64_t seed) : random_(seed) {}
  // The wait before the attempt after `attempt` (1 = the first).
  std::chrono::milliseconds Delay(const RetryPolicy& policy, std::uint32_t attempt);

 private:
  std::mt19937_64 random_;
};

}  // namespace broker
