// LogRelay: run.log through the broker. It asks the runner that ran the run
// (log.read, a fresh token), answers with that runner's log.chunk, and says
// why when it cannot: no run, no log yet, runner gone or too old, silent,
// too many waiting. Over the broker harness (real RunManager and store,
// fake clock).
#include "broker/log_relay.h"

#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

struct Answers {
  std::map<std::uint64_t, schemas::ControlReply> by_ticket;
};

struct RelayFixture {
  Harness h;
  Answers answers;
  LogRelay relay{h.m(), h.store(), h.clock(),
                 [this](std::uint64_t ticket, const schemas::ControlReply& reply) {
                   answers.by_ticket[ticket] = reply;
                 }};

  schemas::ControlRequest LogOf(const std::string& run_id, std::uint64_t offset = 0,
                                std::uint32_t attempt = 0) {
    schemas::ControlRequest r;
    r.op = "run.log";
    r.run_id = run_id;
    r.offset = offset;
    r.attempt = attempt;
    return r;
  }
  // A run of team 1 started on runner "a" (protocol `protocol`).
  std::string StartedRun(std::uint32_t protocol = schemas::kWorkProtocol) {
    h.AddTeam(1);
    schemas::RunnerMessage hello;
    hello.type = "hello";
    hello.runner_id = "a";
    hello.protocol = protocol;
    hello.slots = 1;
    h.SendRaw("a", hello);
    const std::string id = h.AdmitOk(1);
    const schemas::BrokerMessage d = h.OneDispatch("a");
    h.Started("a", id, d.attempt);
    return id;
  }
  schemas::BrokerMessage OneRead(const std::string& runner) {
    h.Collect();
    auto reads = h.Sent(runner, "log.read");
    REQUIRE(reads.size() == 1);
    return reads[0];
  }
};

schemas::RunnerMessage Chunk(const schemas::BrokerMessage& read, std::string bytes,
                             std::uint64_t size) {
  schemas::RunnerMessage c;
  c.type = "log.chunk";
  c.runner_id = "a";
  c.run_id = read.run_id;
  c.attempt = read.attempt;
  c.token = read.token;
  c.log_offset = read.log_offset;
  c.log_size = size;
  c.log_path = "/var/log/daybreak/" + read.run_id + ".1.log";
  c.payload.assign(bytes.begin(), bytes.end());
  return c;
}

TEST_CASE("run.log asks the run's runner and answers with its chunk") {
  RelayFixture f;
  const std::string id = f.StartedRun();
  REQUIRE_FALSE(f.relay.Ask(f.LogOf(id, 10), 7).has_value());
  const schemas::BrokerMessage read = f.OneRead("a");
  CHECK(read.run_id == id);
  CHECK(read.attempt == 1);
  CHECK(read.log_offset == 10);
  CHECK(read.log_limit == LogRelay::kMaxReadBytes);
  CHECK(read.token.size() == 32);
  CHECK(f.answers.by_ticket.empty());

  SUBCASE("the chunk answers the request it names") {
    f.relay.OnChunk("a", Chunk(read, "line two\n", 19));
    REQUIRE(f.answers.by_ticket.count(7) == 1);
    const schemas::ControlReply& r = f.answers.by_ticket[7];
    CHECK(r.ok);
    CHECK(r.log.runner_id == "a");
    CHECK(r.log.attempt == 1);
    CHECK(r.log.offset == 10);
    CHECK(r.log.size == 19);
    CHECK(std::string(r.log.payload.begin(), r.log.payload.end()) == "line two\n");
    CHECK(f.relay.pending() == 0);
  }
  SUBCASE("another runner's chunk, or another token, answers nothing") {
    schemas::RunnerMessage wrong = Chunk(read, "forged", 6);
    f.relay.OnChunk("b", wrong);
    wrong.token = std::string(32, '0');
    f.relay.OnChunk("a", wrong);
    CHECK(f.answers.by_ticket.empty());
    CHECK(f.relay.pending() == 1);
  }
  SUBCASE("the runner's error becomes the refusal") {
    schemas::RunnerMessage c = Chunk(read, "", 0);
    c.error = "this runner has no log of " + id + " attempt 1";
    f.relay.OnChunk("a", c);
    REQUIRE(f.answers.by_ticket.count(7) == 1);
    CHECK_FALSE(f.answers.by_ticket[7].ok);
    CHECK(f.answers.by_ticket[7].code == "not_found");
    CHECK(f.answers.by_ticket[7].error.find("runner a: this runner has no log") != std::string::npos);
  }
  SUBCASE("a silent runner: the request is answered at the timeout, not left waiting") {
    f.h.clock().Advance(4900ms);
    f.relay.Tick();
    CHECK(f.answers.by_ticket.empty());
    f.h.clock().Advance(200ms);
    f.relay.Tick();
    REQUIRE(f.answers.by_ticket.count(7) == 1);
    CHECK(f.answers.by_ticket[7].code == "io_error");
    CHECK(f.answers.by_ticket[7].error.find("did not send the log within 5000 ms") != std::string::npos);
    // A chunk after that answers nothing twice.
    f.answers.by_ticket.clear();
    f.relay.OnChunk("a", Chunk(read, "late", 4));
    CHECK(f.answers.by_ticket.empty());
  }
}

TEST_CASE("run.log says why when no runner can be asked") {
  RelayFixture f;
  SUBCASE("no such run") {
    auto r = f.relay.Ask(f.LogOf("r0000000999"), 1);
    REQUIRE(r.has_value());
    CHECK(r->code == "not_found");
  }
  SUBCASE("a run not dispatched yet has no log") {
    f.h.AddTeam(1);
    const std::string id = f.h.AdmitOk(1);  // no runner: it waits
    auto r = f.relay.Ask(f.LogOf(id), 1);
    REQUIRE(r.has_value());
    CHECK(r->code == "not_found");
    CHECK(r->error.find("has no log yet (state ") != std::string::npos);
  }
  SUBCASE("an archived run: its log went with its record") {
    const std::string id = f.StartedRun();
    schemas::RunRecord stub = f.h.Run(id);
    stub.archived = true;
    Change change;
    change.run = stub;
    REQUIRE(f.h.store().Commit(change).ok());
    auto r = f.relay.Ask(f.LogOf(id), 1);
    REQUIRE(r.has_value());
    CHECK(r->code == "not_found");
    CHECK(r->error.find("is archived") != std::string::npos);
  }
  SUBCASE("an attempt it has not had") {
    const std::string id = f.StartedRun();
    auto r = f.relay.Ask(f.LogOf(id, 0, 2), 1);
    REQUIRE(r.has_value());
    CHECK(r->error.find("has had 1 attempt(s), not 2") != std::string::npos);
  }
  SUBCASE("its runner has gone: where the log is") {
    const std::string id = f.StartedRun();
    f.h.Bye("a");
    auto r = f.relay.Ask(f.LogOf(id), 1);
    REQUIRE(r.has_value());
    CHECK(r->code == "not_found");
    CHECK(r->error.find("runner a is not connected (the log is /logs/" + id + ".1 there)") !=
          std::string::npos);
  }
  SUBCASE("a runner of protocol 3 is not sent a message it cannot read") {
    const std::string id = f.StartedRun(3);
    auto r = f.relay.Ask(f.LogOf(id), 1);
    REQUIRE(r.has_value());
    CHECK(r->code == "rejected");
    CHECK(r->error.find("work protocol 3") != std::string::npos);
    f.h.Collect();
    CHECK(f.h.Sent("a", "log.read").empty());
  }
  SUBCASE("too many reads waiting") {
    const std::string id = f.StartedRun();
    for (std::uint64_t t = 1; t <= LogRelay::kMaxPending; ++t) {
      REQUIRE_FALSE(f.relay.Ask(f.LogOf(id), t).has_value());
    }
    auto r = f.relay.Ask(f.LogOf(id), 999);
    REQUIRE(r.has_value());
    CHECK(r->code == "rejected");
  }
}

}  // namespace
}  // namespace broker
