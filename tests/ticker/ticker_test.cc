// Ticker against an inproc bus and a fake control socket, on a FakeClock:
// fire times, republishing until the due.ack, and reloading the schedule.
#include "ticker/ticker.h"

#include <doctest/doctest.h>

#include <mutex>
#include <thread>

#include "schemas/codec.h"
#include "schemas/topics.h"
#include "tests/common/fake_control_server.h"
#include "tests/common/test_bus.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_process.h"

namespace {

using namespace std::chrono_literals;
using std::chrono::sys_seconds;

sys_seconds At(int hour, int minute, int second = 0) {  // on 2026-03-10, UTC
  return date::sys_days(date::year{2026} / 3 / 10) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second);
}

schemas::TeamRecord Team(std::uint32_t id, const std::string& time, sys_seconds since) {
  schemas::TeamRecord t;
  t.id = id;
  t.run_time = time;
  t.timezone = "UTC";
  t.schedule_since_unix_ms = common::ToUnixMs(since);
  return t;
}

// The ticker's world: the broker's control socket (fake), its bus (two
// inproc PUB/SUB pairs, the test speaking for the broker) and the clock.
class Bench {
 public:
  explicit Bench(sys_seconds now = At(1, 59))
      : control_(context_, "inproc://control"), clock_(now) {
    bus_in_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kDue));
    bus_in_.bind("inproc://bus-in");
    publisher_.connect("inproc://bus-in");
    bus_out_.bind("inproc://bus-out");
    subscriber_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kDueAck));
    subscriber_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kScheduleChanged));
    subscriber_.connect("inproc://bus-out");
    REQUIRE(testing::WaitConnected(publisher_, bus_in_, std::string(schemas::topic::kDue)));
    REQUIRE(testing::WaitConnected(bus_out_, subscriber_, std::string(schemas::topic::kDueAck)));
    control_.set_handler([this](const schemas::ControlRequest& r) {
      if (r.op != schemas::op::kTeamsList) return testing::FakeControlServer::Refuse("unexpected op");
      if (refuse_) return testing::FakeControlServer::Refuse("store unavailable");
      auto reply = testing::FakeControlServer::Ok();
      if (r.all_teams) {
        reply.teams = teams_;
      } else {
        ++one_team_loads_;
        for (const auto& t : teams_) {
          if (t.id == r.team) reply.teams.push_back(t);
        }
      }
      return reply;
    });
  }

  void SetTeams(std::vector<schemas::TeamRecord> teams) {
    std::lock_guard lock(mu_);
    teams_ = std::move(teams);
  }
  void Refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }
  int loads() const { return control_.calls(std::string(schemas::op::kTeamsList)); }
  // Of those, the loads of one team (a schedule.changed).
  int one_team_loads() {
    std::lock_guard lock(mu_);
    return one_team_loads_;
  }

  // The next due event the ticker publishes within `deadline` of real time.
  std::optional<schemas::DueEvent> NextDue(std::chrono::milliseconds deadline = 2s) {
    auto frame = testing::ReceiveFrame(bus_in_, deadline);
    if (!frame) return std::nullopt;
    REQUIRE(frame->topic == schemas::topic::kDue);
    auto due = schemas::DecodeDueEvent(frame->payload);
    REQUIRE(due.ok());
    return due.value();
  }
  void Broker(std::string_view topic, const std::string& payload) {
    testing::Send(bus_out_, std::string(topic), payload);
  }
  // Turns until `done` (at most 5 s of real time).
  bool TurnUntil(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      REQUIRE(ticker.Turn(10ms).ok());
    }
    return true;
  }

 private:
  zmq::context_t context_;
  testing::FakeControlServer control_;
  zmq::socket_t bus_in_{context_, zmq::socket_type::sub};
  zmq::socket_t publisher_{context_, zmq::socket_type::pub};
  zmq::socket_t bus_out_{context_, zmq::socket_type::pub};
  zmq::socket_t subscriber_{context_, zmq::socket_type::sub};
  schemas::ControlClient client_{context_, "inproc://control"};
  std::mutex mu_;
  std::vector<schemas::TeamRecord> teams_;
  bool refuse_ = false;
  int one_team_loads_ = 0;

 public:
  testing::FakeClock clock_;
  ticker::TickerSettings settings{.resend_every = 1000ms, .reload_every = 60'000ms};
  ticker::Ticker ticker{publisher_, subscriber_, client_, clock_, settings};
};

std::string Ack(const std::string& key, const std::string& error = "") {
  schemas::DueAck ack;
  ack.key = key;
  ack.run_id = error.empty() ? "r0000000001" : "";
  ack.error = error;
  return schemas::Encode(ack);
}

}  // namespace

TEST_CASE("the ticker loads the schedule and publishes a due event at the fire time, not before") {
  Bench b;
  b.SetTeams({Team(1, "02:00", At(1, 0))});
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.ticker.loaded());
  CHECK(b.loads() == 1);
  CHECK_FALSE(b.NextDue(20ms));  // 01:59: nothing owed (today's schedule began at 01:00)

  b.clock_.Advance(60s);
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto due = b.NextDue();
  REQUIRE(due);
  CHECK(due->key == "sched:1:2026-03-10");
  CHECK(due->team == 1);
  CHECK(due->kind == schemas::kind::kScheduled);
  CHECK(due->fire_unix_ms == common::ToUnixMs(At(2, 0)));
  CHECK(b.ticker.Unacked() == std::vector<std::string>{"sched:1:2026-03-10"});
}

TEST_CASE("the ticker republishes a due event until its due.ack, then stops") {
  Bench b(At(2, 0, 30));
  b.SetTeams({Team(1, "02:00", At(1, 0))});
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto first = b.NextDue();
  REQUIRE(first);

  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK_FALSE(b.NextDue(20ms));  // not before resend_every
  b.clock_.Advance(b.settings.resend_every);
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto again = b.NextDue();
  REQUIRE(again);
  CHECK(again->key == first->key);

  SUBCASE("an ack for another key changes nothing; a garbled one is dropped") {
    b.Broker(schemas::topic::kDueAck, Ack("sched:9:2026-03-10"));
    b.Broker(schemas::topic::kDueAck, "not msgpack");
    REQUIRE(b.ticker.Turn(50ms).ok());
    CHECK(b.ticker.Unacked().size() == 1);
  }
  SUBCASE("the ack ends it") {
    b.Broker(schemas::topic::kDueAck, Ack(first->key));
    CHECK(b.TurnUntil([&] { return b.ticker.Unacked().empty(); }));
    b.clock_.Advance(b.settings.resend_every * 3);
    REQUIRE(b.ticker.Turn(10ms).ok());
    CHECK_FALSE(b.NextDue(20ms));
  }
  SUBCASE("a refusal ends it too: the broker has answered") {
    b.Broker(schemas::topic::kDueAck, Ack(first->key, "team 1 is unknown"));
    CHECK(b.TurnUntil([&] { return b.ticker.Unacked().empty(); }));
  }
}

TEST_CASE("the ticker reloads the schedule on schedule.changed and on its safety interval") {
  Bench b(At(3, 0));
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.loads() == 1);
  CHECK(b.ticker.Unacked().empty());

  // Team 2 added at 01:00 with a 02:00 run: at 03:00 it owes today's fire.
  b.SetTeams({Team(2, "02:00", At(1, 0))});
  schemas::ScheduleChanged changed;
  changed.team = 2;
  changed.change = std::string(schemas::schedule_change::kPut);
  b.Broker(schemas::topic::kScheduleChanged, schemas::Encode(changed));
  CHECK(b.TurnUntil([&] { return b.loads() == 2; }));
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto due = b.NextDue();
  REQUIRE(due);
  CHECK(due->team == 2);

  b.clock_.Advance(b.settings.reload_every);
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.loads() == 3);
}

TEST_CASE("each new connection to the bus reloads the schedule: a notice sent before it is lost") {
  // A real TCP bus this time (inproc has no handshake to see).
  zmq::context_t context;
  testing::FakeControlServer control(context, "inproc://watch-control");
  control.set_handler([](const schemas::ControlRequest&) { return testing::FakeControlServer::Ok(); });
  const std::string bus = "tcp://127.0.0.1:" + std::to_string(testing::FreePort());
  auto broker_bus = std::make_unique<zmq::socket_t>(context, zmq::socket_type::xpub);
  broker_bus->set(zmq::sockopt::linger, 0);
  broker_bus->bind(bus);
  zmq::socket_t publisher(context, zmq::socket_type::pub);
  zmq::socket_t subscriber(context, zmq::socket_type::sub);
  subscriber.set(zmq::sockopt::linger, 0);
  subscriber.set(zmq::sockopt::subscribe, std::string(schemas::topic::kScheduleChanged));
  subscriber.set(zmq::sockopt::reconnect_ivl, 50);
  schemas::ControlClient client(context, "inproc://watch-control");
  testing::FakeClock clock(At(3, 0));
  ticker::Ticker ticker(publisher, subscriber, client, clock, {});
  subscriber.connect(bus);
  auto loads = [&] { return control.calls(std::string(schemas::op::kTeamsList)); };
  auto turn_until = [&](int n) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (loads() < n && std::chrono::steady_clock::now() < until) REQUIRE(ticker.Turn(10ms).ok());
    return loads();
  };
  // The first load, and one for the connection: the same one when the
  // connection was up by the first turn. The broker's XPUB sees our
  // subscription once the handshake is done, which is when the ticker's
  // watch says the connection opened; a few turns then take that in.
  zmq::pollitem_t sub_seen{broker_bus->handle(), 0, ZMQ_POLLIN, 0};
  REQUIRE(zmq::poll(&sub_seen, 1, 5s) == 1);
  zmq::message_t subscription;
  REQUIRE(broker_bus->recv(subscription));
  for (int i = 0; i < 5; ++i) REQUIRE(ticker.Turn(10ms).ok());
  const int base = loads();
  CHECK((base == 1 || base == 2));
  // The broker restarts: a new connection, another load.
  broker_bus.reset();
  broker_bus = std::make_unique<zmq::socket_t>(context, zmq::socket_type::pub);
  broker_bus->set(zmq::sockopt::linger, 0);
  // The closed socket gives its port back in the background.
  const auto bind_until = std::chrono::steady_clock::now() + 5s;
  while (true) {
    try {
      broker_bus->bind(bus);
      break;
    } catch (const zmq::error_t& e) {
      REQUIRE_MESSAGE((e.num() == EADDRINUSE && std::chrono::steady_clock::now() < bind_until), e.what());
      std::this_thread::sleep_for(10ms);  // polling for the port, not waiting on a peer
    }
  }
  CHECK(turn_until(base + 1) == base + 1);
  // And nothing more while it stays up.
  for (int i = 0; i < 5; ++i) REQUIRE(ticker.Turn(10ms).ok());
  CHECK(loads() == base + 1);
}

TEST_CASE("a schedule the broker cannot give is asked for again a second later") {
  Bench b(At(2, 30));
  b.SetTeams({Team(1, "02:00", At(1, 0))});
  b.Refuse(true);
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK_FALSE(b.ticker.loaded());
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.loads() == 1);  // not hammering the broker
  CHECK_FALSE(b.NextDue(20ms));

  b.Refuse(false);
  b.clock_.Advance(1000ms);
  REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.loads() == 2);
  CHECK(b.ticker.loaded());
  CHECK(b.NextDue());
}

TEST_CASE("Run returns at once when asked to stop") {
  Bench b;
  std::atomic<bool> stop{true};
  CHECK(b.ticker.Run(stop).ok());
  CHECK(b.loads() == 0);
}

TEST_CASE("a schedule.changed reloads that one team, not the whole list") {
  Bench b(At(1, 0));
  b.SetTeams({Team(1, "02:00", At(0, 0)), Team(2, "03:00", At(0, 0))});
  REQUIRE(b.ticker.Turn(10ms).ok());
  REQUIRE(b.loads() == 1);
  auto changed = [&](std::uint32_t team, std::string_view change) {
    schemas::ScheduleChanged c;
    c.team = team;
    c.change = std::string(change);
    b.Broker(schemas::topic::kScheduleChanged, schemas::Encode(c));
  };
  // Team 2 moves to 01:30; team 1 is removed (no question asked for that).
  b.SetTeams({Team(1, "02:00", At(0, 0)), Team(2, "01:30", At(0, 30))});
  changed(2, schemas::schedule_change::kPut);
  CHECK(b.TurnUntil([&] { return b.one_team_loads() == 1; }));
  changed(1, schemas::schedule_change::kRemove);
  b.SetTeams({Team(2, "01:30", At(0, 30))});
  for (int i = 0; i < 5; ++i) REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK(b.loads() == 2);  // the first load, and team 2's alone
  CHECK(b.one_team_loads() == 1);

  b.clock_.Advance(30min);  // 01:30: team 2's new time
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto due = b.NextDue();
  REQUIRE(due);
  CHECK(due->team == 2);
  b.Broker(schemas::topic::kDueAck, Ack(due->key));
  CHECK(b.TurnUntil([&] { return b.ticker.Unacked().empty(); }));
  b.clock_.Advance(30min);  // 02:00: team 1 is gone
  for (int i = 0; i < 3; ++i) REQUIRE(b.ticker.Turn(10ms).ok());
  CHECK_FALSE(b.NextDue(200ms));
}

// At 100,000 teams the full reload takes most of a second: falling due just
// before a fire, it would make the fire that late.
TEST_CASE("the periodic reload waits while a fire is close, then comes") {
  Bench b(At(1, 59, 0));
  b.SetTeams({Team(1, "02:00", At(0, 0))});
  REQUIRE(b.ticker.Turn(10ms).ok());
  REQUIRE(b.loads() == 1);
  b.clock_.Advance(59'000ms);  // 01:59:59: the reload is due in a second
  REQUIRE(b.ticker.Turn(10ms).ok());
  b.clock_.Advance(1'000ms);  // 02:00:00: the reload and the fire both due
  REQUIRE(b.ticker.Turn(10ms).ok());
  auto due = b.NextDue();
  REQUIRE(due);
  CHECK(due->team == 1);
  CHECK(b.loads() == 1);  // the fire went first
  b.Broker(schemas::topic::kDueAck, Ack(due->key));
  CHECK(b.TurnUntil([&] { return b.loads() == 2; }));
}
