// Runner: the leases of its runs (PROTOCOL.md, "Leases") against a fake
// broker and a fake host: what a dispatch's lease becomes, which broker
// messages renew it (only those showing the broker still has us), that a
// cancelled or stale run is left to lapse, and the sweep before hello.
#include <signal.h>

#include "runner/lease_shim.h"
#include "tests/runner/runner_harness.h"

namespace {

using namespace testing;
namespace broker_msg = schemas::broker_msg;

TEST_CASE("a dispatch's lease and grace reach the spawn, with the run's cgroup name") {
  RunnerHarness h;
  h.Start();
  auto d = RunnerHarness::Dispatch("r1", 2);
  SUBCASE("given by the broker") {
    d.lease_ms = 4000;
    d.lease_grace_ms = 1500;
    h.DispatchAndAnswer(d);
    REQUIRE(h.host.spawned.size() == 1);
    CHECK(h.host.spawned[0].lease == 4000ms);
    CHECK(h.host.spawned[0].lease_grace == 1500ms);
  }
  SUBCASE("a dispatch without one: heartbeat x liveness and the default grace") {
    h.DispatchAndAnswer(d);
    REQUIRE(h.host.spawned.size() == 1);
    CHECK(h.host.spawned[0].lease == h.settings.heartbeat * h.settings.heartbeat_liveness);
    CHECK(h.host.spawned[0].lease_grace == runner::kDefaultLeaseGrace);
  }
  CHECK(h.host.spawned[0].name == "r1-a2");
}

TEST_CASE("only messages that show the broker still has us renew the leases") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const pid_t pid = h.host.last_pid();
  const int before = h.host.renewals[pid];
  SUBCASE("a broker heartbeat renews") {
    h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
    CHECK(h.host.renewals[pid] == before + 1);
  }
  SUBCASE("hello-required does not: that broker does not know us") {
    auto again = RunnerHarness::Message(broker_msg::kWelcome);
    again.key = std::string(broker_msg::kHelloRequired);
    h.Deliver(again);
    CHECK(h.host.renewals[pid] == before);
  }
  SUBCASE("a cancel does not, and the cancelled run is never renewed again") {
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r2", 1, 8));
    const pid_t other = h.host.last_pid();
    const int cancelled_before = h.host.renewals[pid];  // the dispatch renewed r1
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 1));
    CHECK(h.host.renewals[pid] == cancelled_before);
    const int other_before = h.host.renewals[other];
    h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
    CHECK(h.host.renewals[pid] == cancelled_before);  // left to lapse
    CHECK(h.host.renewals[other] == other_before + 1);
  }
}

TEST_CASE("after a stall, what waited in the socket renews nothing for a heartbeat") {
  // A SIGSTOPped runner reads, on SIGCONT, heartbeats the broker sent
  // before it gave up on this runner: they must not extend the lease past
  // what the broker waits before it retries the run elsewhere.
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const pid_t pid = h.host.last_pid();
  const int before = h.host.renewals[pid];
  h.clock.Advance(h.settings.heartbeat * 2);  // no turn meanwhile: stopped
  h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  CHECK(h.host.renewals[pid] == before);
  h.clock.Advance(h.settings.heartbeat);
  h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  CHECK(h.host.renewals[pid] == before + 1);
}

TEST_CASE("a runner sweeps what an earlier runner of its id left before its hello") {
  RunnerHarness h([](runner::RunnerSettings& s) { s.deployment = "deployment-x"; });
  const std::string id = h.settings.runner_id;
  const std::string shim(runner::kShimName);
  h.host.processes = {
      {.pid = 500, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "deployment-x", .runner_id = id, .name = "sh"},
      {.pid = 501, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "deployment-x", .runner_id = "runner-b", .name = "sh"},
      {.pid = 502, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "deployment-y", .runner_id = id, .name = "sh"},
      {.pid = 503, .ppid = 1, .state = 'S', .run_id = "r2", .deployment = "deployment-x", .runner_id = id, .name = shim},
      {.pid = 504, .ppid = 1, .state = 'S', .run_id = "", .deployment = "deployment-x", .runner_id = id, .name = "daybreak-runner"},
      {.pid = 505, .ppid = 1, .state = 'Z', .run_id = "r3", .deployment = "deployment-x", .runner_id = id, .name = "sh"}};
  h.Start();
  CHECK(h.host.cgroup_sweeps == std::vector<std::string>{""});  // all of this runner's
  CHECK(h.host.Count(500, SIGKILL, false) == 1);
  CHECK(h.host.Count(501, SIGKILL, false) == 0);  // another runner's (it may be alive)
  CHECK(h.host.Count(502, SIGKILL, false) == 0);  // another deployment's
  CHECK(h.host.Count(503, SIGKILL, false) == 0);  // a shim ends its own tree
  CHECK(h.host.Count(504, SIGKILL, false) == 0);  // not a run's process
  CHECK(h.host.Count(505, SIGKILL, false) == 0);

  SUBCASE("a retry sweeps the run's cgroups of this deployment") {
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r7", 2));
    CHECK(h.host.cgroup_sweeps.back() == "r7");
  }
}

}  // namespace
