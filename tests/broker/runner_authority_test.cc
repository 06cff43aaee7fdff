// The runner protocol's fences (issue 11, items 1-3): only the runner an
// attempt was dispatched to, after its hello, echoing the dispatch's token,
// speaks for that attempt; a hello that left before a dispatch arrived does
// not lose it; a dispatch nobody starts has a deadline; and a runner that
// may still hold an earlier attempt is never handed a new one.
#include <doctest/doctest.h>

#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

constexpr auto kDispatchTimeout = std::chrono::milliseconds(30'000);

// Team 1 with runner-a, and a manual run of it that runner-a has started.
std::string RunningOnA(Harness& h) {
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  return id;
}

// A succeeded result of attempt 1, sent raw (Harness::Result would answer
// the broker's promote itself).
schemas::RunnerMessage SuccessOf(Harness& h, const std::string& runner, const std::string& id) {
  schemas::RunnerMessage m;
  m.type = "result";
  m.runner_id = runner;
  m.run_id = id;
  m.attempt = 1;
  m.token = h.Token(id, 1);
  m.outcome = "succeeded";
  return m;
}

bool IsToken(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_CASE("each dispatch carries its own 128-bit token, the local date and the zone") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.Admit(h.Scheduled(1, h.NowMs())).run.run_id;
  const BrokerMessage first = h.OneDispatch("runner-a");
  CHECK(IsToken(first.token));
  CHECK(first.local_date == "2026-03-08");
  CHECK_FALSE(first.zone.empty());
  CHECK(h.Run(id).token == first.token);  // stored, so a restart still fences
  h.Started("runner-a", id, 1);
  h.Result("runner-a", id, 1, "transient", "exit 75");
  CHECK(h.Run(id).token.empty());  // an ended attempt has no voice
  const BrokerMessage second = h.RetryDispatch(id, "runner-a");
  CHECK(IsToken(second.token));
  CHECK(second.token != first.token);
}

TEST_CASE("a run missing from a hello that left before its dispatch arrived is not lost") {
  // The reproducer: after hello-required the runner answers with a hello
  // that crosses the dispatch on the wire.
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage sent = h.OneDispatch("runner-a");
  h.Hello("runner-a");  // sent before the dispatch reached it: holds nothing
  CHECK(h.State(id) == "dispatched");
  // The same process: the same dispatch again (its token), never a second
  // attempt; the runner ignores whichever copy comes second.
  const auto again = h.Sent("runner-a", "dispatch");
  REQUIRE(again.size() == 1);
  CHECK(again[0].attempt == 1);
  CHECK(again[0].token == sent.token);
  h.Started("runner-a", id, 1);
  CHECK(h.State(id) == "running");
  h.Result("runner-a", id, 1, "succeeded");
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kSucceeded);
  CHECK(r.attempt == 1);
}

TEST_CASE("a started run missing from its runner's hello was lost in the runner's restart") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Hello("runner-a");  // after `started`, in order: it really lost the run
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("restarted and lost it") != std::string::npos);
}

TEST_CASE("a dispatch its runner does not start within the deadline is retried") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Advance(kDispatchTimeout - std::chrono::milliseconds(500));  // it heartbeats, never starts
  CHECK(h.State(id) == "dispatched");
  h.Advance(std::chrono::milliseconds(500));
  RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("did not start attempt 1 within 30 s") != std::string::npos);
  CHECK(h.m().counters().unstarted_dispatches == 1);
  // The runner is told to drop it, should the dispatch still arrive.
  const auto cancels = h.Sent("runner-a", "cancel");
  REQUIRE(cancels.size() == 1);
  CHECK(cancels[0].attempt == 1);
  CHECK(cancels[0].token == d.token);
  // A start that comes after all does not count, and is cancelled again.
  h.Started("runner-a", id, 1);
  CHECK(h.State(id) == "retry_wait");
  CHECK(h.Sent("runner-a", "cancel").size() == 1);
}

TEST_CASE("a runner that still holds an earlier attempt is never sent a new one") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Silence("runner-a");  // kill -STOP: the broker gives up on it
  h.Advance(std::chrono::milliseconds(3500));
  REQUIRE(h.State(id) == "retry_wait");
  // kill -CONT: it says hello still holding attempt 1, and is told to stop.
  h.Hello("runner-a", 1, {{id, 1, ""}});
  REQUIRE(h.Sent("runner-a", "cancel").size() == 1);
  h.Silence("runner-a");  // the harness's own empty heartbeats would say otherwise
  // Stopping it takes a while; its heartbeats keep naming attempt 1.
  const std::int64_t retry_at = h.Run(id).next_attempt_unix_ms;
  while (h.NowMs() < retry_at + 1000) {
    h.Heartbeat("runner-a", {{id, 1, ""}});
    h.Advance(std::chrono::milliseconds(500));
  }
  CHECK(h.m().runner_count() == 1);
  CHECK(h.DispatchCount() == 0);
  CHECK(h.State(id) == "retry_wait");
  // Attempt 1 has exited: its heartbeat no longer names it.
  h.Heartbeat("runner-a");
  const BrokerMessage d = h.OneDispatch("runner-a");
  CHECK(d.attempt == 2);
}

TEST_CASE("a result from a peer that never said hello does not end the run") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Result("intruder", id, 1, "succeeded");  // even with the right token
  CHECK(h.State(id) == "running");
  CHECK(h.Sent("intruder", "ack").empty());
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("a result from another runner, after its own hello, does not end the run") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Hello("runner-b");
  h.Result("runner-b", id, 1, "succeeded");
  CHECK(h.State(id) == "running");
  CHECK(h.m().counters().stale_results == 1);
  const auto acks = h.Sent("runner-b", "ack");
  REQUIRE(acks.size() == 1);  // answered, so it is not resent forever
  CHECK(acks[0].error.find("not the current attempt") != std::string::npos);
  // Nor may it start it.
  h.Started("runner-b", id, 1);
  CHECK(h.Run(id).runner_id == "runner-a");
}

TEST_CASE("a result with the wrong token or none does not count") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Result("runner-a", id, 1, "succeeded", "", std::string(32, '0'));
  CHECK(h.State(id) == "running");
  h.Result("runner-a", id, 1, "succeeded", "", std::string());
  CHECK(h.State(id) == "running");
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("a hello claiming another runner's run neither takes it nor ends it") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Hello("runner-b", 1, {{id, 1, ""}});  // with the right token, even
  RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRunning);
  CHECK(r.runner_id == "runner-a");
  CHECK(h.Sent("runner-b", "cancel").size() == 1);
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("after a broker restart a runner's hello keeps the attempt it holds") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.Restart();
  h.Hello("runner-a", 1, {{id, 1, ""}});
  h.Advance(std::chrono::milliseconds(10'000));  // past the claim window
  CHECK(h.State(id) == "running");
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("a success is committed only after its runner has promoted it") {
  Harness h;
  const std::string id = RunningOnA(h);
  schemas::RunnerMessage result = SuccessOf(h, "runner-a", id);
  result.total_loans = 42;
  h.m().OnRunnerMessage("runner-a", result);
  h.Collect();
  CHECK(h.State(id) == "running");  // not yet: the outputs are not published
  const auto promotes = h.Sent("runner-a", "promote");
  REQUIRE(promotes.size() == 1);
  CHECK(promotes[0].token == h.Token(id, 1));
  CHECK(h.Sent("runner-a", "ack").empty());
  // A resent result (the promote crossed it) is asked again, harmlessly.
  h.m().OnRunnerMessage("runner-a", result);
  h.Collect();
  CHECK(h.Sent("runner-a", "promote").size() == 1);
  schemas::RunnerMessage promoted = result;
  promoted.type = "promoted";
  h.m().OnRunnerMessage("runner-a", promoted);
  h.Collect();
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kSucceeded);
  CHECK(r.total_loans == 42);
  CHECK(h.Sent("runner-a", "ack").size() == 1);
}

TEST_CASE("a promoting success frees its slot, and is lost with its runner") {
  Harness h;
  const std::string id = RunningOnA(h);
  h.m().OnRunnerMessage("runner-a", SuccessOf(h, "runner-a", id));
  h.Collect();
  REQUIRE(h.Sent("runner-a", "promote").size() == 1);
  // Its pipeline has exited, so the one slot takes the next run meanwhile.
  h.AddTeam(2);
  const std::string next = h.AdmitOk(2);
  CHECK(h.OneDispatch("runner-a").run_id == next);
  // It dies before `promoted`: the attempt is lost, not left running.
  h.Silence("runner-a");
  h.Advance(std::chrono::milliseconds(3500));
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("stopped answering") != std::string::npos);
}

TEST_CASE("a stale attempt's success is never asked to promote") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  h.Hello("runner-b");
  const std::string id = h.AdmitOk(1);
  const std::string first = h.Sent("runner-a", "dispatch").empty() ? "runner-b" : "runner-a";
  h.ForgetRunnerMessages();
  h.Started(first, id, 1);
  h.Silence(first);
  h.Advance(std::chrono::milliseconds(3500));  // lost; attempt 2 follows
  REQUIRE(h.State(id) == "retry_wait");
  h.Hello(first);
  h.m().OnRunnerMessage(first, SuccessOf(h, first, id));
  h.Collect();
  CHECK(h.Sent(first, "promote").empty());
  const auto acks = h.Sent(first, "ack");
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(acks[0].error.empty());  // the runner discards attempt 1's outputs
  CHECK(h.State(id) == "retry_wait");
}

// A message of runner-a's process `life`, numbered `seq` within it.
schemas::RunnerMessage FromLife(const std::string& type, const std::string& life, std::uint64_t seq) {
  schemas::RunnerMessage m;
  m.type = type;
  m.runner_id = "runner-a";
  m.incarnation = life;
  m.seq = seq;
  return m;
}

// runner-a's hello from process `life`, with one slot and nothing held.
void HelloFromLife(Harness& h, const std::string& life) {
  schemas::RunnerMessage hello = FromLife("hello", life, 1);
  hello.protocol = schemas::kWorkProtocol;
  hello.slots = 1;
  h.SendRaw("runner-a", hello);
}

// The `started` of process `life` for attempt 1 of `id`, numbered `seq`.
void StartedFromLife(Harness& h, const std::string& id, const std::string& life, std::uint64_t seq) {
  schemas::RunnerMessage started = FromLife("started", life, seq);
  started.run_id = id;
  started.attempt = 1;
  started.token = h.Token(id, 1);
  h.SendRaw("runner-a", started);
}

TEST_CASE("a runner process that reconnects without a dispatch gets it again at once; a new process does not") {
  // The reproducer: under load a runner heard nothing for 3 heartbeats,
  // made a new socket and said hello; the dispatch sent to its old socket
  // died with it, and the run sat `dispatched` for the whole deadline.
  Harness h;
  h.AddTeam(1);
  HelloFromLife(h, "one");
  const std::string id = h.AdmitOk(1);
  const BrokerMessage first = h.OneDispatch("runner-a");
  schemas::RunnerMessage again = FromLife("hello", "one", 5);  // the same process, later
  again.protocol = schemas::kWorkProtocol;
  again.slots = 1;
  h.SendRaw("runner-a", again);
  const auto resent = h.Sent("runner-a", "dispatch");
  REQUIRE(resent.size() == 1);
  CHECK(resent[0].token == first.token);
  CHECK(resent[0].attempt == first.attempt);
  CHECK(h.m().counters().redispatches == 1);
  CHECK(h.State(id) == "dispatched");
  StartedFromLife(h, id, "one", 6);
  CHECK(h.State(id) == "running");

}

TEST_CASE("a new process of a runner does not get its old life's dispatch again: the deadline decides") {
  Harness h;
  h.AddTeam(1);
  HelloFromLife(h, "one");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  HelloFromLife(h, "two");  // the old process may have started it
  CHECK(h.Sent("runner-a", "dispatch").empty());
  CHECK(h.State(id) == "dispatched");
  CHECK(h.m().counters().redispatches == 0);
}

TEST_CASE("a started from a runner's earlier life that crosses its new hello does not strand the run") {
  // The interleaving checker's trace: runner-a starts attempt 1, is killed
  // and restarted; its new hello (holding nothing) arrives before the old
  // process's `started`. The run must not sit `running` forever.
  Harness h;
  h.AddTeam(1);
  HelloFromLife(h, "old");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  HelloFromLife(h, "new");
  StartedFromLife(h, id, "old", 2);
  CHECK(h.State(id) == "dispatched");  // the old life's word does not count
  h.SendRaw("runner-a", FromLife("heartbeat", "new", 2));
  h.Advance(kDispatchTimeout + std::chrono::seconds(1));
  CHECK(h.State(id) == "retry_wait");  // its dispatch deadline decided
}

TEST_CASE("a started run that a newer heartbeat of its runner no longer names is lost, an older one is not") {
  Harness h;
  h.AddTeam(1);
  HelloFromLife(h, "life");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  StartedFromLife(h, id, "life", 3);
  REQUIRE(h.State(id) == "running");
  h.SendRaw("runner-a", FromLife("heartbeat", "life", 2));  // left before `started`
  CHECK(h.State(id) == "running");
  h.SendRaw("runner-a", FromLife("heartbeat", "life", 4));  // after it, and empty
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("no longer holds it") != std::string::npos);
}

TEST_CASE("a result that does not decode is answered: its attempt ends transient, nothing is resent") {
  Harness h;
  const std::string id = RunningOnA(h);
  schemas::RunnerMessageHeader header;
  header.type = "result";
  header.runner_id = "runner-a";
  header.run_id = id;
  header.attempt = 1;
  header.token = h.Token(id, 1);
  h.m().OnRefusedResult("runner-a", header, "map size overflow");
  h.Collect();
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("result refused: map size overflow") != std::string::npos);
  bool answered = false;
  for (const BrokerMessage& m : h.Sent("runner-a", "ack")) {
    if (m.run_id == id && m.error.find("map size overflow") != std::string::npos) answered = true;
  }
  CHECK(answered);
}

TEST_CASE("a success that overtook its started is not stranded by its runner's restart") {
  // The interleaving checker's trace (depth 6, runner restarts only): the
  // old process's result overtakes its `started`, the promote dies with
  // the process, and the new process's hello holds nothing. The run sat
  // `dispatched` forever: the result had cleared its dispatch deadline.
  Harness h;
  h.AddTeam(1);
  HelloFromLife(h, "old");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  schemas::RunnerMessage result = FromLife("result", "old", 3);
  result.run_id = id;
  result.attempt = 1;
  result.token = h.Token(id, 1);
  result.outcome = "succeeded";
  h.SendRaw("runner-a", result);
  REQUIRE(h.Sent("runner-a", "promote").size() == 1);
  CHECK(h.State(id) == "running");  // a result says the attempt started
  SUBCASE("a new process says hello") {
    HelloFromLife(h, "new");
    const RunRecord r = h.Run(id);
    CHECK(r.state == schemas::RunState::kRetryWait);
    CHECK(r.error.find("restarted") != std::string::npos);
  }
  SUBCASE("the runner goes silent") {
    h.Silence("runner-a");
    h.Advance(std::chrono::milliseconds(3500));
    CHECK(h.State(id) == "retry_wait");
  }
  SUBCASE("its old process's started comes late") {
    StartedFromLife(h, id, "old", 2);
    CHECK(h.State(id) == "running");
    schemas::RunnerMessage promoted = result;
    promoted.type = "promoted";
    h.SendRaw("runner-a", promoted);
    CHECK(h.State(id) == "succeeded");
  }
}

}  // namespace
}  // namespace broker
