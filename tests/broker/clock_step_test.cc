// Retry timers run on the monotonic clock (issue 11, "Clock steps"): a
// wall-clock step backwards or forwards neither delays nor hurries a retry.
#include <doctest/doctest.h>

#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

// Runs attempt 1 of a manual run of team 1 to a transient failure; returns
// the run id and how long its backoff is.
std::pair<std::string, std::chrono::milliseconds> FailOnce(Harness& h) {
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  h.Result("runner-a", id, 1, "transient", "exit 75");
  const RunRecord r = h.Run(id);
  REQUIRE(r.state == schemas::RunState::kRetryWait);
  return {id, std::chrono::milliseconds(r.next_attempt_unix_ms - h.NowMs())};
}

TEST_CASE("a wall clock stepped back an hour does not delay a retry") {
  Harness h;
  const auto [id, backoff] = FailOnce(h);
  h.clock().SetWall(h.clock().WallNow() - std::chrono::hours(1));
  h.Advance(backoff - std::chrono::milliseconds(100));
  CHECK(h.DispatchCount() == 0);
  h.Advance(std::chrono::milliseconds(100));
  const BrokerMessage d = h.OneDispatch("runner-a");
  CHECK(d.run_id == id);
  CHECK(d.attempt == 2);
}

TEST_CASE("a wall clock stepped forward 25 hours does not hurry a retry") {
  Harness h;
  const auto [id, backoff] = FailOnce(h);
  h.clock().SetWall(h.clock().WallNow() + std::chrono::hours(25));
  h.Advance(std::chrono::milliseconds(100));
  CHECK(h.DispatchCount() == 0);
  CHECK(h.State(id) == "retry_wait");
  h.Advance(backoff);
  CHECK(h.OneDispatch("runner-a").attempt == 2);
}

TEST_CASE("after a restart a retry waits only what was left of its backoff") {
  Harness h;
  const auto [id, backoff] = FailOnce(h);
  h.Advance(backoff / 2);
  h.Restart();
  h.Hello("runner-a");
  h.Advance(backoff / 2 - std::chrono::milliseconds(600));
  CHECK(h.DispatchCount() == 0);
  h.Advance(std::chrono::milliseconds(1000));
  CHECK(h.OneDispatch("runner-a").attempt == 2);
}

}  // namespace
}  // namespace broker
