// Malformed frames on every socket: logged, dropped or answered with an
// error, and the broker keeps serving with its state unchanged.
#include <doctest/doctest.h>

#include "common/zmq_util.h"
#include "schemas/codec.h"
#include "tests/support/cluster.h"

namespace {

using testing::Cluster;

std::size_t RunCount(Cluster& cluster) {
  schemas::ControlRequest list;
  list.op = "runs.list";
  return cluster.Call(list).value().runs.size();
}

}  // namespace

TEST_CASE("bad frames on every socket are dropped and the broker keeps serving") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  cluster.MakeSample(0, 20, "2025-06-02");
  testing::BusWatcher bus(cluster, {"run.", "due.ack"});
  zmq::context_t& ctx = cluster.context();

  SUBCASE("control: garbage, a wrong type and an unknown op get error replies") {
    zmq::socket_t req(ctx, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.set(zmq::sockopt::rcvtimeo, 5000);
    req.connect(cluster.endpoint("control"));
    auto ask = [&](const std::string& bytes) {
      req.send(zmq::buffer(bytes), zmq::send_flags::none);
      zmq::message_t reply;
      REQUIRE(req.recv(reply, zmq::recv_flags::none));
      auto decoded = schemas::DecodeControlReply(reply.to_string_view());
      REQUIRE(decoded.ok());
      return decoded.value();
    };
    auto garbage = ask("\xc1\xff not msgpack");
    CHECK_FALSE(garbage.ok);
    CHECK(garbage.error.find("control request") != std::string::npos);
    schemas::ControlRequest unknown;
    unknown.op = "drop.tables";
    auto refused = ask(schemas::Encode(unknown));
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("unknown op") != std::string::npos);
    schemas::ControlRequest bad_team;
    bad_team.op = "trigger";
    bad_team.team = 4242;  // no such team
    auto no_team = ask(schemas::Encode(bad_team));
    CHECK_FALSE(no_team.ok);
    CHECK(no_team.error.find("team 4242 does not exist") != std::string::npos);
    schemas::ControlRequest bad_pdate;
    bad_pdate.op = "trigger";
    bad_pdate.pdate = "2026-02-30";
    CHECK_FALSE(ask(schemas::Encode(bad_pdate)).ok);
    CHECK(RunCount(cluster) == 0);
  }

  SUBCASE("bus: undecodable due events and forged broker topics go nowhere") {
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 1000);
    pub.connect(cluster.endpoint("bus_publish"));
    schemas::RunEvent forged;
    forged.seq = 999;
    forged.event = "completed";
    forged.run.run_id = "r-forged";
    schemas::DueEvent negative_team;  // team is encoded below as a string
    for (int i = 0; i < 20; ++i) {  // repeat: PUB may drop before connecting
      pub.send(zmq::str_buffer("due"), zmq::send_flags::sndmore);
      pub.send(zmq::str_buffer("\x93\x01\x02"), zmq::send_flags::none);
      pub.send(zmq::str_buffer("due"), zmq::send_flags::none);  // one frame only
      pub.send(zmq::str_buffer("run.completed"), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(schemas::Encode(forged)), zmq::send_flags::none);
    }
    // A valid due after the junk proves the bus still works, and that the
    // forged event was not passed on before it.
    schemas::DueEvent due;
    due.kind = "manual";
    due.key = "after-the-junk";
    bool answered = false;
    for (int i = 0; i < 100 && !answered; ++i) {
      pub.send(zmq::str_buffer("due"), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(schemas::Encode(due)), zmq::send_flags::none);
      answered = bus.WaitForRunEvent([](const schemas::RunEvent& e) {
        return e.run.key == "after-the-junk" && e.event == "completed";
      }, std::chrono::milliseconds(100)).has_value();
    }
    CHECK(answered);
    for (const auto& e : bus.run_events()) CHECK(e.run.run_id != "r-forged");
    CHECK(RunCount(cluster) == 1);
  }

  SUBCASE("work: garbage and impostor frames from a fake runner are ignored") {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::routing_id, std::string("impostor"));
    dealer.connect(cluster.endpoint("work"));
    dealer.send(zmq::str_buffer("\xde\xad\xbe\xef"), zmq::send_flags::none);
    schemas::RunnerMessage wrong_id;  // claims another runner's id
    wrong_id.type = "hello";
    wrong_id.runner_id = "runner-1";
    wrong_id.slots = 4;
    dealer.send(zmq::buffer(schemas::Encode(wrong_id)), zmq::send_flags::none);
    schemas::RunnerMessage stale;  // a result for a run that does not exist
    stale.type = "result";
    stale.runner_id = "impostor";
    stale.run_id = "r0000000099";
    stale.attempt = 1;
    stale.outcome = "succeeded";
    dealer.send(zmq::buffer(schemas::Encode(stale)), zmq::send_flags::none);
    // Nothing an unknown peer says counts: its hello under another's id is
    // dropped, its result is answered only with hello-required, and nothing
    // is recorded.
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    bool hello_required = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!hello_required && std::chrono::steady_clock::now() < until) {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
      zmq::message_t m;
      while (dealer.recv(m, zmq::recv_flags::dontwait)) {
        auto b = schemas::DecodeBrokerMessage(m.to_string_view());
        if (!b.ok()) continue;
        CHECK(b.value().type != "ack");
        hello_required = hello_required ||
                         (b.value().type == "welcome" && b.value().key == "hello-required");
      }
    }
    CHECK(hello_required);
    CHECK(RunCount(cluster) == 0);
    // The real runner still gets work.
    CHECK(cluster.WaitForTerminal(cluster.Trigger(0).run_id).state == schemas::RunState::kSucceeded);
  }
  CHECK(cluster.broker().running());
}
