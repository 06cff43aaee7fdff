// Runner: the leases of its runs (PROTOCOL.md, "Leases") against a fake
// broker and a fake host: what a dispatch's lease becomes, which broker
// messages renew it (only those showing the broker still has us), that a
// cancelled or stale run is left to lapse, and the sweep before hello.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "common/team.h"

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
  h.clock.Advance(h.settings.heartbeat / 4);  // past the last renewal's throttle
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
    CHECK(h.host.renewals[pid] == before + 1);  // the dispatch renewed r1
    h.clock.Advance(h.settings.heartbeat / 4);
    const int cancelled_before = h.host.renewals[pid];
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 1));
    CHECK(h.host.renewals[pid] == cancelled_before);
    const int other_before = h.host.renewals[other];
    h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
    CHECK(h.host.renewals[pid] == cancelled_before);  // left to lapse
    CHECK(h.host.renewals[other] == other_before + 1);
  }
}

TEST_CASE("a burst of frames renews the leases once a quarter heartbeat") {
  // A broker acking a slot's worth of results sends them back to back:
  // renewing every lease for each one cost a write per job per frame.
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const pid_t pid = h.host.last_pid();
  h.clock.Advance(h.settings.heartbeat / 4);
  const int before = h.host.renewals[pid];
  for (int i = 0; i < 5; ++i) h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  CHECK(h.host.renewals[pid] == before + 1);
  h.clock.Advance(h.settings.heartbeat / 4 - 1ms);
  h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  CHECK(h.host.renewals[pid] == before + 1);
  h.clock.Advance(1ms);
  h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  CHECK(h.host.renewals[pid] == before + 2);
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

TEST_CASE("a frame renews only if it answers what the runner said within two heartbeats") {
  // A heartbeat that waited in a cut link, or a broker that has not heard
  // us since (one-way loss), names an old seq: the broker may be about to
  // give up on us, so the lease must not be stretched past what it waits.
  RunnerHarness h;
  const schemas::RunnerMessage hello = h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const pid_t pid = h.host.last_pid();
  h.clock.Advance(h.settings.heartbeat);
  h.Expect(schemas::runner_msg::kHeartbeat);
  h.clock.Advance(h.settings.heartbeat);
  const schemas::RunnerMessage recent = h.Expect(schemas::runner_msg::kHeartbeat);
  h.clock.Advance(h.settings.heartbeat / 2);
  h.Turn();
  auto beat = RunnerHarness::Message(broker_msg::kHeartbeat);
  beat.incarnation = hello.incarnation;
  const int before = h.host.renewals[pid];
  SUBCASE("an answer to the hello, 2.5 heartbeats ago, does not renew") {
    beat.seen_seq = hello.seq;
    h.Deliver(beat);
    CHECK(h.host.renewals[pid] == before);
  }
  SUBCASE("an answer to the latest heartbeat does") {
    beat.seen_seq = recent.seq;
    h.Deliver(beat);
    CHECK(h.host.renewals[pid] == before + 1);
  }
  SUBCASE("an answer to another process of this runner does not") {
    beat.seen_seq = recent.seq;
    beat.incarnation = "another-life";
    h.Deliver(beat);
    CHECK(h.host.renewals[pid] == before);
  }
  SUBCASE("an answer to a seq never sent does not") {
    beat.seen_seq = recent.seq + 1000;
    h.Deliver(beat);
    CHECK(h.host.renewals[pid] == before);
  }
}

TEST_CASE("a promote that comes more than the lease after what it answers publishes nothing") {
  // The broker retries a silent runner's run once the lease (and grace and
  // a heartbeat) is over: a promote that waited longer than the lease may
  // come after that retry, and its outputs would sit beside the retry's.
  RunnerHarness h;
  h.Start();
  auto d = RunnerHarness::Dispatch("r1");
  d.lease_ms = 3000;
  h.DispatchAndAnswer(d);
  std::ofstream(h.host.spawned[0].cwd + "/output/purchase.csv") << "today";
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  const schemas::RunnerMessage result = h.Expect(schemas::runner_msg::kResult);
  REQUIRE(result.outcome == schemas::outcome::kSucceeded);
  auto promote = RunnerHarness::Message(broker_msg::kPromote, "r1", 1);
  promote.token = d.token;
  promote.seen_seq = result.seq;
  promote.incarnation = result.incarnation;
  const std::string published =
      common::DirsFor(7, h.settings.input_root, h.settings.output_root).output + "/purchase.csv";
  SUBCASE("past the lease: transient, nothing published") {
    h.clock.Advance(3001ms);
    const auto answer = h.Deliver(promote);
    REQUIRE(answer.size() == 1);
    CHECK(answer[0].type == schemas::runner_msg::kPromoted);
    CHECK(answer[0].outcome == schemas::outcome::kTransient);
    CHECK(answer[0].error == "promote came 3001 ms after what it answers, past the 3000 ms lease");
    CHECK_FALSE(std::filesystem::exists(published));
  }
  SUBCASE("within it: published") {
    h.clock.Advance(2999ms);
    const auto answer = h.Deliver(promote);
    REQUIRE(answer.size() == 1);
    CHECK(answer[0].outcome == schemas::outcome::kSucceeded);
    CHECK(std::filesystem::exists(published));
  }
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
