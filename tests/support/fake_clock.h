// FakeClock: a Clock that moves only when a test says so.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace testing {

class FakeClock final : public common::Clock {
 public:
  explicit FakeClock(Wall wall = Wall(std::chrono::hours(24 * 20000)))
      : wall_(wall) {}
  Mono Now() const override { return mono_; }
  Wall WallNow() const override { return wall_; }
  void Advance(std::chrono::milliseconds d) {
    mono_ += d;
    wall_ += d;
  }
  void SetWall(Wall wall) { wall_ = wall; }

 private:
  Mono mono_{};
  Wall wall_;
};

}  // namespace testing
