// AlertPolicy: one alert per episode, and a recovery that closes it.
#include <doctest/doctest.h>

#include "broker/alert_policy.h"

using broker::AlertPolicy;

TEST_CASE("a failure streak alerts once at the threshold and a success recovers it") {
  AlertPolicy policy(3, std::chrono::hours(26));
  schemas::TeamStatus status;
  CHECK(policy.OnRunEnded(4, "r1", false, "exit 1", 1000, status).empty());
  CHECK(policy.OnRunEnded(4, "r2", false, "exit 1", 2000, status).empty());
  auto third = policy.OnRunEnded(4, "r3", false, "pipeline exited 1", 3000, status);
  REQUIRE(third.size() == 1);
  CHECK(third[0].kind == "consecutive_failures");
  CHECK(third[0].team == 4);
  CHECK(third[0].count == 3);
  CHECK(third[0].run_id == "r3");
  CHECK(third[0].message.find("pipeline exited 1") != std::string::npos);
  CHECK(policy.OnRunEnded(4, "r4", false, "exit 1", 4000, status).empty());  // same episode
  auto ok = policy.OnRunEnded(4, "r5", true, "", 5000, status);
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].kind == "recovered");
  CHECK(ok[0].message.find("after 4 failed runs") != std::string::npos);
  CHECK(status.consecutive_failures == 0);
  CHECK(status.last_success_unix_ms == 5000);
  CHECK(policy.OnRunEnded(4, "r6", true, "", 6000, status).empty());  // nothing to recover
  SUBCASE("a new streak is a new episode") {
    for (int i = 0; i < 2; ++i) policy.OnRunEnded(4, "x", false, "e", 7000, status);
    CHECK(policy.OnRunEnded(4, "x", false, "e", 8000, status).size() == 1);
  }
}

TEST_CASE("a team without success for too long alerts once, and recovers on success") {
  const auto day = std::chrono::hours(26);
  const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(day).count();
  AlertPolicy policy(3, day);
  schemas::TeamStatus status;
  CHECK_FALSE(policy.CheckSilence(2, 0, ms - 1, status));
  auto alert = policy.CheckSilence(2, 0, ms, status);
  REQUIRE(alert.has_value());
  CHECK(alert->kind == "no_success");
  CHECK(alert->message.find("over 26 h") != std::string::npos);
  CHECK_FALSE(policy.CheckSilence(2, 0, ms * 2, status));  // once per episode
  auto recovered = policy.OnRunEnded(2, "r9", true, "", ms * 2, status);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].kind == "recovered");
  CHECK(policy.CheckSilence(2, status.last_success_unix_ms, ms * 2 + 1, status) == std::nullopt);
  SUBCASE("a zero limit disables it") {
    AlertPolicy off(3, std::chrono::hours(0));
    schemas::TeamStatus s;
    CHECK_FALSE(off.CheckSilence(2, 0, ms * 100, s));
  }
}
