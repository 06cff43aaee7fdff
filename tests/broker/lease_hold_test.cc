// Leases on the broker's side (PROTOCOL.md, "Leases"): every dispatch
// carries the lease and its grace, and a run lost with a silent runner --
// stopped or cut off, its pipeline possibly still going -- is redispatched
// only once that lease has lapsed and the kill is done, however short its
// backoff. Fake clock throughout.
#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

Settings QuickRetries() {
  Settings s = TestSettings();
  s.retry.initial = 100ms;  // the backoff alone would retry at once
  s.retry.max = 100ms;
  return s;
}

TEST_CASE("a dispatch carries the lease and its grace") {
  Settings s = QuickRetries();
  std::chrono::milliseconds lease = 3000ms;  // heartbeat x liveness
  std::chrono::milliseconds grace = 2000ms;
  SUBCASE("by default") {}
  SUBCASE("configured") {
    s.lease = lease = 7000ms;
    s.lease_grace = grace = 500ms;
  }
  Harness h(s);
  h.AddTeam(1);
  h.Hello("runner-a");
  h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  CHECK(d.lease_ms == lease.count());
  CHECK(d.lease_grace_ms == grace.count());
}

TEST_CASE("a run lost with a silent runner is not redispatched before lease plus grace") {
  // Issue 11: a stopped or partitioned runner's pipeline keeps running, so
  // the broker retried while the first attempt was still alive.
  Settings s = QuickRetries();
  SUBCASE("default lease") {}
  SUBCASE("a longer lease") {
    s.lease = 8000ms;
    s.lease_grace = 1000ms;
  }
  const auto lease = s.lease.count() > 0 ? s.lease : s.heartbeat * s.heartbeat_liveness;
  Harness h(s);
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Started("runner-a", id, d.attempt);
  h.Hello("runner-b");
  h.Silence("runner-a");  // kill -STOP, or its link is down
  h.Advance(3000ms);
  REQUIRE(h.State(id) == "running");
  h.Advance(1ms);
  REQUIRE(h.State(id) == "retry_wait");
  const std::int64_t lost_at = h.NowMs();
  const RunRecord r = h.Run(id);
  CHECK(r.next_attempt_unix_ms >= lost_at + (lease + s.lease_grace).count());
  // Up to the moment the lease has lapsed and the grace is over, nothing.
  h.Advance(lease + s.lease_grace - 1ms);
  CHECK(h.DispatchCount() == 0);
  CHECK(h.State(id) == "retry_wait");
  // Then the retry goes to the runner that answers.
  CHECK(h.RetryDispatch(id, "runner-b").attempt == 2);
  CHECK(h.NowMs() >= lost_at + (lease + s.lease_grace).count());
}

TEST_CASE("a run lost because its runner left, or restarted, is retried after its backoff only") {
  // Those runners stopped their pipelines themselves (drain; the sweep
  // before hello), so no lease needs waiting for.
  Harness h(QuickRetries());
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Started("runner-a", id, d.attempt);
  SUBCASE("bye") { h.Bye("runner-a"); }
  SUBCASE("a fresh hello without it") { h.Hello("runner-a"); }
  REQUIRE(h.State(id) == "retry_wait");
  CHECK(h.Run(id).next_attempt_unix_ms <= h.NowMs() + 100);
}

TEST_CASE("a lost attempt that ends its run keeps its team's lock until its lease lapses") {
  // Issue 11: a silent runner's last attempt (or a cancelled one) ended its
  // run at once, and the team's next run started beside the old pipeline.
  Settings s = QuickRetries();
  const auto lease = s.heartbeat * s.heartbeat_liveness;
  std::uint32_t max_attempts = 3;
  bool cancel = false;
  SUBCASE("its last attempt") { max_attempts = 1; }
  SUBCASE("a cancelled run") { cancel = true; }
  Harness h(s);
  h.AddTeam(1, "queue", max_attempts);
  h.Hello("runner-a");
  h.Hello("runner-b");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Started("runner-a", id, d.attempt);
  const std::string next = h.AdmitOk(1);
  REQUIRE(h.State(next) == "queued");
  if (cancel) REQUIRE(h.m().Cancel(id).ok());
  h.ForgetRunnerMessages();  // the cancel to runner-a, which never hears it
  h.Silence("runner-a");
  h.Advance(lease + 1ms);
  REQUIRE(h.State(id) == (cancel ? "cancelled" : "failed"));
  CHECK(h.State(next) == "queued");
  CHECK(h.DispatchCount() == 0);
  // Until the lost attempt's lease and its grace are over, the team waits.
  const auto hold = lease + s.lease_grace + s.heartbeat;
  h.Advance(hold - 1ms);
  CHECK(h.State(next) == "queued");
  CHECK(h.DispatchCount() == 0);
  h.Advance(1ms);
  const BrokerMessage d2 = h.OneDispatch("runner-b");
  CHECK(d2.run_id == next);
}

// A run of team 1 that runner-a has started; returns its id.
std::string StartedOnA(Harness& h) {
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Started("runner-a", id, d.attempt);
  return id;
}

TEST_CASE("a run skipped behind a held lock says why") {
  Settings s = QuickRetries();
  Harness h(s);
  h.AddTeam(1, "skip", 1);
  const std::string id = StartedOnA(h);
  h.Silence("runner-a");
  h.Advance(s.heartbeat * s.heartbeat_liveness + 1ms);
  REQUIRE(h.State(id) == "failed");
  const std::string skipped = h.AdmitOk(1, "second");
  CHECK(h.State(skipped) == "skipped");
  CHECK(h.Run(skipped).error.find("its lost attempt may still be running") != std::string::npos);
  h.Advance(s.heartbeat * s.heartbeat_liveness + s.lease_grace + s.heartbeat);
  h.Hello("runner-b");
  const std::string later = h.AdmitOk(1, "third");
  CHECK(h.OneDispatch("runner-b").run_id == later);
}

TEST_CASE("a broker restarted within a lost attempt's lease still holds its team's lock") {
  Settings s = QuickRetries();
  const auto lease = s.heartbeat * s.heartbeat_liveness;
  const auto hold = lease + s.lease_grace + s.heartbeat;
  Harness h(s);
  h.AddTeam(1, "queue", 1);
  const std::string id = StartedOnA(h);
  const std::string next = h.AdmitOk(1);
  h.Silence("runner-a");
  h.Advance(lease + 1ms);
  REQUIRE(h.State(id) == "failed");
  CHECK(h.Run(id).lock_held_until_unix_ms == h.NowMs() + hold.count());
  h.Advance(1000ms);
  h.Restart();
  h.Hello("runner-b");
  h.Advance(hold - 1000ms - 1ms);
  CHECK(h.State(next) == "queued");
  CHECK(h.DispatchCount() == 0);
  h.Advance(1ms);
  CHECK(h.OneDispatch("runner-b").run_id == next);
}

}  // namespace
}  // namespace broker
