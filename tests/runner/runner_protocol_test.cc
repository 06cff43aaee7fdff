// Runner: its side of the work protocol (hello, heartbeats, result resends,
// reconnects, refusal, drain) and how long its loop sleeps.
#include <signal.h>

#include <atomic>
#include <thread>

#include "tests/runner/runner_harness.h"

namespace {

using namespace testing;
using schemas::RunnerMessage;
namespace outcome = schemas::outcome;
namespace runner_msg = schemas::runner_msg;
namespace broker_msg = schemas::broker_msg;

// Dispatches `run_id`, ends it with `exit_code` and returns its result.
RunnerMessage FinishOne(RunnerHarness& h, const std::string& run_id, int exit_code = 0) {
  h.DispatchAndAnswer(RunnerHarness::Dispatch(run_id));
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(exit_code));
  return h.Expect(runner_msg::kResult);
}

TEST_CASE("hello names the runner, its protocol version and its slots") {
  RunnerHarness h;
  const RunnerMessage hello = h.Start();
  CHECK(hello.runner_id == "runner-a");
  CHECK(hello.protocol == schemas::kWorkProtocol);
  CHECK(hello.slots == 2);
  CHECK(hello.holding.empty());
  CHECK(h.broker.connects() == 1);
}

TEST_CASE("Start fails when no socket can be made") {
  testing::FakeClock clock;
  testing::FakeProcessHost host;
  zmq::context_t context;
  SUBCASE("the factory throws") {
    runner::Runner r(
        [&context] {
          auto s = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
          s->connect("no-such-transport://x");
          return s;
        },
        host, clock, {});
    const common::Status s = r.Start();
    CHECK(s.code() == common::Code::kIoError);
    CHECK(s.message().find("cannot connect to the broker") == 0);
  }
  SUBCASE("the factory returns nothing") {
    runner::Runner r([] { return std::unique_ptr<zmq::socket_t>(); }, host, clock, {});
    CHECK(r.Start().code() == common::Code::kIoError);
  }
}

TEST_CASE("hello lists held runs") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1, 1));
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r2", 4, 2));
  auto held = [](const RunnerMessage& hello) {
    std::vector<std::pair<std::string, std::uint32_t>> out;
    for (const auto& lease : hello.holding) out.emplace_back(lease.run_id, lease.attempt);
    return out;
  };
  const std::vector<std::pair<std::string, std::uint32_t>> expected = {{"r1", 1}, {"r2", 4}};
  SUBCASE("when the broker asks for it") {
    h.broker.Send(RunnerHarness::Message(broker_msg::kWelcome));  // no key: no hello
    auto hello_required = RunnerHarness::Message(broker_msg::kWelcome);
    hello_required.key = broker_msg::kHelloRequired;
    h.broker.Send(hello_required);
    const RunnerMessage hello = h.Expect(runner_msg::kHello);
    CHECK(held(hello) == expected);
    CHECK(h.broker.connects() == 1);
  }
  SUBCASE("after reconnecting to a silent broker") {
    h.clock.Advance(h.settings.heartbeat * h.settings.heartbeat_liveness - 1ms);
    h.Turn();
    CHECK(h.broker.connects() == 1);
    h.clock.Advance(1ms);
    const RunnerMessage hello = h.Expect(runner_msg::kHello);
    CHECK(h.broker.connects() == 2);
    CHECK(held(hello) == expected);
    CHECK(hello.slots == 2);
  }
}

TEST_CASE("any broker message counts as a sign of life") {
  RunnerHarness h;
  h.Start();
  h.clock.Advance(h.settings.heartbeat * h.settings.heartbeat_liveness - 1ms);
  h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
  h.clock.Advance(h.settings.heartbeat);
  h.Turn();
  CHECK(h.broker.connects() == 1);
}

TEST_CASE("a result is resent every heartbeat until it is acknowledged") {
  RunnerHarness h;
  h.Start();
  const RunnerMessage first = FinishOne(h, "r1", 3);
  h.clock.Advance(h.settings.heartbeat - 1ms);
  CHECK(h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat)).empty());
  h.clock.Advance(1ms);
  const RunnerMessage again = h.Expect(runner_msg::kResult);
  CHECK(again.run_id == first.run_id);
  CHECK(again.attempt == first.attempt);
  CHECK(again.outcome == outcome::kFailed);

  SUBCASE("an ack of another attempt does not stop it") {
    h.Deliver(RunnerHarness::Message(broker_msg::kAck, "r1", 2));
    CHECK(h.runner->unacknowledged() == 1);
    h.clock.Advance(h.settings.heartbeat);
    CHECK(h.Expect(runner_msg::kResult).run_id == "r1");
  }
  SUBCASE("the ack stops it") {
    h.Deliver(RunnerHarness::Message(broker_msg::kAck, "r1", 1));
    CHECK(h.runner->unacknowledged() == 0);
    h.clock.Advance(h.settings.heartbeat * 2);
    h.Turn();
    const auto after = h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat));
    CHECK(after.empty());
  }
}

TEST_CASE("a refusal from the broker ends the runner with the broker's reason") {
  RunnerHarness h;
  auto refused = RunnerHarness::Message(broker_msg::kRefused);
  refused.error = "runner speaks protocol 2; this broker serves 3 to 3";
  SUBCASE("Turn") {
    h.Start();
    h.broker.Send(refused);
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    common::Result<bool> more = true;
    while (more.ok() && std::chrono::steady_clock::now() < give_up) {
      more = h.runner->Turn(false, 10ms);
    }
    REQUIRE_FALSE(more.ok());
    CHECK(more.status().code() == common::Code::kRejected);
    CHECK(more.status().message().find(refused.error) != std::string::npos);
  }
  SUBCASE("Run") {
    // Run owns the loop, so it gets a thread; the test only touches the
    // broker's socket meanwhile, and the clock not at all.
    std::atomic<bool> stop{false};
    common::Status status;
    std::thread loop([&] { status = h.runner->Run(stop); });
    std::optional<RunnerMessage> hello;
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (!hello && std::chrono::steady_clock::now() < give_up) {
      auto m = h.broker.Receive(100ms);
      if (m && m->type == runner_msg::kHello) hello = m;
    }
    if (hello) {
      h.broker.Send(refused);
    } else {
      stop = true;  // let the thread end before failing
    }
    loop.join();
    REQUIRE(hello);
    CHECK(status.code() == common::Code::kRejected);
    CHECK(status.message().find(refused.error) != std::string::npos);
  }
}

TEST_CASE("malformed broker frames are dropped and the runner carries on") {
  RunnerHarness h;
  h.Start();
  SUBCASE("not msgpack") { h.broker.SendRaw("\xc1 garbage"); }
  SUBCASE("two frames") { h.broker.SendRaw(schemas::Encode(RunnerHarness::Dispatch("r1")), "x"); }
  SUBCASE("an unknown type") { h.broker.Send(RunnerHarness::Message("teleport", "r1", 1)); }
  CHECK(h.Deliver(RunnerHarness::Message(broker_msg::kHeartbeat)).empty());
  CHECK(h.host.spawned.empty());
  CHECK(h.DispatchAndAnswer(RunnerHarness::Dispatch("r2")).type == runner_msg::kStarted);
}

TEST_CASE("the loop sleeps until the nearest deadline") {
  RunnerHarness h([](runner::RunnerSettings& s) {
    s.heartbeat = 60s;
    s.kill_grace = 10s;
  });
  h.Start();  // the first turn sent a heartbeat: the next is 60 s away
  CHECK(h.runner->TimeUntilNextDeadline() == 60s);
  auto d = RunnerHarness::Dispatch("r1");
  d.timeout_s = 3;
  h.DispatchAndAnswer(d);
  CHECK(h.runner->TimeUntilNextDeadline() == 3s);
  h.clock.Advance(1s);
  CHECK(h.runner->TimeUntilNextDeadline() == 2s);
  h.clock.Advance(2s);
  CHECK(h.runner->TimeUntilNextDeadline() == 0ms);  // due now, not negative
  h.Turn();                                         // TERM: the kill is next
  CHECK(h.runner->TimeUntilNextDeadline() == 10s);
  h.clock.Advance(10s);
  h.Turn();  // KILL: only the heartbeat is left
  CHECK(h.runner->TimeUntilNextDeadline() == 47s);
  h.host.Exit(h.host.last_pid(), FakeProcessHost::KilledBy(SIGKILL));
  h.Expect(runner_msg::kResult);
  CHECK(h.runner->TimeUntilNextDeadline() == 47s);  // its resend is 60 s away

  SUBCASE("a heartbeat puts the next one a heartbeat away") {
    h.Deliver(RunnerHarness::Message(broker_msg::kAck, "r1", 1));
    h.clock.Advance(47s);
    h.Turn();
    CHECK(h.runner->TimeUntilNextDeadline() == 60s);
  }
  SUBCASE("the broker's silence is a deadline too") {
    h.Deliver(RunnerHarness::Message(broker_msg::kAck, "r1", 1));  // its last word, t=13 s
    for (int beat = 0; beat < 3; ++beat) {
      h.clock.Advance(beat == 0 ? 47s : 60s);
      h.Turn();
    }
    // t=180 s: the next heartbeat is at 240 s, the reconnect at 193 s.
    CHECK(h.runner->TimeUntilNextDeadline() == 13s);
  }
}

TEST_CASE("without an exit descriptor, exits are polled for while runs go") {
  RunnerHarness h({}, /*with_exit_fd=*/false);
  h.Start();
  CHECK(h.runner->TimeUntilNextDeadline() == h.settings.heartbeat);
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  CHECK(h.runner->TimeUntilNextDeadline() == runner::kExitPollInterval);
}

TEST_CASE("a drain waits for the runs, stops them at the drain deadline, then says bye") {
  RunnerHarness h;
  h.Start();
  SUBCASE("nothing going: bye at once") {
    CHECK_FALSE(h.Turn(/*stop=*/true));
    h.Expect(runner_msg::kBye);
  }
  SUBCASE("runs are finished, and their results acknowledged, first") {
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1, 1));
    const pid_t pid = h.host.last_pid();
    CHECK(h.Turn(/*stop=*/true));
    const RunnerMessage hello = h.Expect(runner_msg::kHello);
    CHECK(hello.slots == 1);  // looks full: nothing new is sent
    h.clock.Advance(h.settings.drain_timeout - 1ms);
    CHECK(h.Turn(true));
    CHECK(h.host.Count(pid, SIGTERM) == 0);
    h.clock.Advance(1ms);
    CHECK(h.Turn(true));
    CHECK(h.host.Count(pid, SIGTERM) == 1);
    h.host.Exit(pid, FakeProcessHost::KilledBy(SIGTERM));
    const RunnerMessage result = h.Expect(runner_msg::kResult);
    CHECK(result.error == "runner shutting down");
    CHECK(h.Turn(true));  // still owes the broker an acknowledged result
    h.broker.Send(RunnerHarness::Message(broker_msg::kAck, "r1", 1));
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (h.runner->unacknowledged() > 0 && std::chrono::steady_clock::now() < give_up) {
      REQUIRE(h.runner->Turn(true, 10ms).ok());
    }
    CHECK_FALSE(h.Turn(true));
    h.Expect(runner_msg::kBye);
  }
  SUBCASE("an unacknowledged result is given up after the grace") {
    FinishOne(h, "r1");
    CHECK(h.Turn(true));
    h.clock.Advance(h.settings.drain_timeout + h.settings.kill_grace + 5s - 1ms);
    CHECK(h.Turn(true));
    h.clock.Advance(1ms);
    CHECK_FALSE(h.Turn(true));
    CHECK(h.runner->unacknowledged() == 1);
  }
}

TEST_CASE("Run with stop already set says hello, drains at once and says bye") {
  RunnerHarness h;
  std::atomic<bool> stop{true};
  CHECK(h.runner->Run(stop).ok());
  std::vector<RunnerMessage> sent;
  while (sent.empty() || sent.back().type != runner_msg::kBye) {
    auto m = h.broker.Receive(kPatience);
    REQUIRE(m);
    sent.push_back(*m);
  }
  REQUIRE(sent.size() == 3);
  CHECK(sent[0].type == runner_msg::kHello);
  CHECK(sent[0].protocol == schemas::kWorkProtocol);
  CHECK(sent[1].type == runner_msg::kHello);  // the draining one
  CHECK(sent[1].slots == 1);
  CHECK(sent[2].type == runner_msg::kBye);
}

}  // namespace
