// Clock: the only source of time for logic, so tests can move it by hand.
#pragma once

#include <chrono>

namespace common {

class Clock {
 public:
  using Mono = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual Mono Now() const = 0;
  virtual Wall WallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  Mono Now() const override { return std::chrono::steady_clock::now(); }
  Wall WallNow() const override { return std::chrono::system_clock::now(); }
};

// A clock whose wall time runs `offset` ahead of (or behind) another's, for
// rehearsing a fire time or a DST night on a real system. Monotonic time is
// the base clock's.
class OffsetClock final : public Clock {
 public:
  // `base` must outlive this clock.
  OffsetClock(const Clock& base, std::chrono::milliseconds offset) : base_(base), offset_(offset) {}
  Mono Now() const override { return base_.Now(); }
  Wall WallNow() const override { return base_.WallNow() + offset_; }

 private:
  const Clock& base_;
  std::chrono::milliseconds offset_;
};

// Milliseconds since the Unix epoch, the unit every wire timestamp uses.
inline std::int64_t ToUnixMs(Clock::Wall t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}
inline Clock::Wall FromUnixMs(std::int64_t ms) {
  return Clock::Wall(std::chrono::milliseconds(ms));
}

}  // namespace common
