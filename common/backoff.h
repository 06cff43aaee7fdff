// Exponential backoff with "equal jitter", shared by the broker's run
// retries and the notifier's deliveries: the delay for attempt n is between
// half and all of initial * 2^(n-1), capped at max, so retries spread out
// but never come sooner than half the nominal delay.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace common {

inline std::chrono::milliseconds EqualJitterBackoff(std::chrono::milliseconds initial,
                                                    std::chrono::milliseconds max,
                                                    std::uint32_t attempt, std::mt19937_64& random) {
  double delay = static_cast<double>(initial.count());
  for (std::uint32_t i = 1; i < attempt && delay < max.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(max.count()));
  std::uniform_real_distribution<double> half(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * half(random)));
}

}  // namespace common
