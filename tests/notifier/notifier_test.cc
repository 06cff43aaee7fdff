// Notifier against an inproc bus, a fake control socket holding the
// broker's event log, and a recording sink: start from the cursor, replay
// after a gap, drop garbage, follow a quiet bus, and store the cursor.
#include "notifier/notifier.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

#include "schemas/codec.h"
#include "schemas/topics.h"
#include "tests/common/fake_control_server.h"
#include "tests/common/test_bus.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using notifier::Notification;

// Records what it is given; tests wait on it instead of sleeping.
class RecordingSink final : public notifier::Sink {
 public:
  std::string name() const override { return "recording"; }
  notifier::Attempt Deliver(const Notification& n) override {
    std::lock_guard lock(mu_);
    seen_.push_back(n.seq);
    ids_.push_back(n.event_id());
    cv_.notify_all();
    return notifier::Attempt::Delivered();
  }
  // What it has seen once it has seen `count` events (or after 5 s).
  std::vector<std::uint64_t> WaitFor(std::size_t count) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return seen_.size() >= count; });
    return seen_;
  }
  std::vector<std::string> ids() {
    std::lock_guard lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> seen_;
  std::vector<std::string> ids_;
};

schemas::RunEvent Event(std::uint64_t seq, std::string incarnation = "") {
  schemas::RunEvent e;
  e.seq = seq;
  e.incarnation = std::move(incarnation);
  e.event = std::string(schemas::event::kFailed);
  e.run.run_id = "r" + std::to_string(seq);
  e.run.team = 1;
  e.run.state = schemas::RunState::kFailed;
  return e;
}

class Bench {
 public:
  Bench() : control_(context_, "inproc://control") {
    bus_.bind("inproc://bus");
    subscriber_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kRunPrefix));
    subscriber_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kAlertPrefix));
    subscriber_.connect("inproc://bus");
    REQUIRE(testing::WaitConnected(bus_, subscriber_, schemas::RunTopic("probe")));
    control_.set_handler([this](const schemas::ControlRequest& r) { return Answer(r); });
    auto sink = std::make_unique<RecordingSink>();
    sink_ = sink.get();
    notifier::RetryPolicy policy;
    router_.AddQueue(std::move(sink), policy, 100, "");
    router_.AddRoute(notifier::Route{0, std::nullopt, {}, {"*"}});
    REQUIRE(router_.Start().ok());
  }

  // Appends to the broker's log; `publish` also sends it on the bus.
  void Log(std::uint64_t seq, bool publish) {
    std::string payload;
    {
      std::lock_guard lock(mu_);
      payload = schemas::Encode(Event(seq, incarnation_));
      schemas::LoggedEvent e;
      e.seq = seq;
      e.topic = schemas::RunTopic(schemas::event::kFailed);
      e.payload.assign(payload.begin(), payload.end());
      log_.push_back(e);
    }
    if (publish) Publish(schemas::RunTopic(schemas::event::kFailed), payload);
  }
  void Publish(const std::string& topic, const std::string& payload) {
    testing::Send(bus_, topic, payload);
  }
  // The broker's store restored to what it held at `from` (or rebuilt
  // there): a new incarnation whose later events reuse seqs.
  void Restore(const std::string& incarnation, std::uint64_t from) {
    std::lock_guard lock(mu_);
    std::erase_if(log_, [&](const schemas::LoggedEvent& e) { return e.seq > from; });
    incarnation_ = incarnation;
    incarnation_from_ = from;
  }
  // Another notifier process on the same cursor, sockets and sinks.
  std::unique_ptr<notifier::Notifier> Restarted() {
    return std::make_unique<notifier::Notifier>(subscriber_, client_, cursor, router_, clock);
  }
  void Refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }
  int replays() const { return control_.calls(std::string(schemas::op::kEventsSince)); }
  bool TurnUntil(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      REQUIRE(notifier.Turn(10ms).ok());
    }
    return true;
  }

 private:
  schemas::ControlReply Answer(const schemas::ControlRequest& r) {
    if (refuse_) return testing::FakeControlServer::Refuse("broker busy");
    auto reply = testing::FakeControlServer::Ok();
    reply.last_seq = log_.empty() ? 0 : log_.back().seq;
    reply.incarnation = incarnation_;
    reply.incarnation_from = incarnation_from_;
    if (r.op == schemas::op::kEventsSince) {
      for (const auto& e : log_) {
        if (e.seq > r.since_seq && reply.events.size() < r.limit) reply.events.push_back(e);
      }
    }
    return reply;
  }

  zmq::context_t context_;
  testing::FakeControlServer control_;
  zmq::socket_t bus_{context_, zmq::socket_type::pub};
  zmq::socket_t subscriber_{context_, zmq::socket_type::sub};
  schemas::ControlClient client_{context_, "inproc://control"};
  std::mutex mu_;
  std::vector<schemas::LoggedEvent> log_;
  bool refuse_ = false;
  std::string incarnation_ = "A";
  std::uint64_t incarnation_from_ = 0;
  common::SystemClock sink_clock_;  // the delivery threads read it

 public:
  testing::TempDir dir;
  notifier::CursorFile cursor{dir.Sub("cursor")};
  testing::FakeClock clock;  // the notifier's own, moved by the test
  notifier::SinkRouter router_{sink_clock_};
  RecordingSink* sink_ = nullptr;
  notifier::Notifier notifier{subscriber_, client_, cursor, router_, clock};
  std::atomic<bool> stop{false};
};

using Seqs = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("on start the notifier replays the broker's log after its cursor and stores the cursor") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 4; ++seq) b.Log(seq, false);
  SUBCASE("a cursor of this store") { REQUIRE(b.cursor.Store({"A", 2}).ok()); }
  SUBCASE("a cursor from before stores had incarnations") { REQUIRE(b.cursor.Store({"", 2}).ok()); }
  REQUIRE(b.notifier.Start(b.stop).ok());
  CHECK(b.notifier.offered() == 4);
  CHECK_FALSE(b.notifier.behind());
  CHECK(b.sink_->WaitFor(2) == Seqs{3, 4});
  CHECK(b.sink_->ids() == std::vector<std::string>{"A:3", "A:4"});
  CHECK(b.TurnUntil([&] { return b.notifier.committed() == 4; }));
  CHECK(b.cursor.Load().value().seq == 4);
  CHECK(b.cursor.Load().value().incarnation == "A");
}

TEST_CASE("a cursor of a restored store resumes where the new store's own events begin") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) b.Log(seq, false);
  REQUIRE(b.cursor.Store({"A", 5}).ok());  // delivered through A:5
  b.Restore("B", 3);                       // back to seq 3, then new events 4..6
  for (std::uint64_t seq = 4; seq <= 6; ++seq) b.Log(seq, false);
  REQUIRE(b.notifier.Start(b.stop).ok());
  CHECK(b.sink_->WaitFor(3) == Seqs{4, 5, 6});  // not skipped as "seen": they are new
  CHECK(b.sink_->ids() == std::vector<std::string>{"B:4", "B:5", "B:6"});
  CHECK(b.TurnUntil([&] { return b.notifier.committed() == 6; }));
  CHECK(b.cursor.Load().value().incarnation == "B");
}

TEST_CASE("a store restored under a running notifier stops it, and the restart resumes there") {
  Bench b;
  REQUIRE(b.notifier.Start(b.stop).ok());
  b.Log(1, true);
  b.Log(2, true);
  CHECK(b.TurnUntil([&] { return b.notifier.committed() == 2; }));
  b.Restore("B", 1);
  b.Log(2, true);  // B:2, a new event with an old seq
  common::Status s;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (s.ok() && std::chrono::steady_clock::now() < until) s = b.notifier.Turn(10ms);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("incarnation B") != std::string::npos);
  CHECK(b.sink_->WaitFor(2) == Seqs{1, 2});  // B:2 was not taken for A:2, nor offered

  auto restarted = b.Restarted();
  REQUIRE(restarted->Start(b.stop).ok());
  CHECK(b.sink_->WaitFor(3) == Seqs{1, 2, 2});
  CHECK(b.sink_->ids() == std::vector<std::string>{"A:1", "A:2", "B:2"});
}

TEST_CASE("the notifier offers bus events in order and fills a gap from events.since") {
  Bench b;
  REQUIRE(b.notifier.Start(b.stop).ok());
  const int replays_at_start = b.replays();
  b.Log(1, true);
  CHECK(b.TurnUntil([&] { return b.notifier.offered() == 1; }));
  CHECK(b.replays() == replays_at_start);  // in order: straight from the bus

  b.Log(2, false);  // lost on the way
  b.Log(3, true);
  CHECK(b.TurnUntil([&] { return b.notifier.offered() == 3; }));
  CHECK(b.replays() > replays_at_start);
  CHECK(b.sink_->WaitFor(3) == Seqs{1, 2, 3});

  SUBCASE("an event seen again is not offered twice") {
    b.Publish(schemas::RunTopic(schemas::event::kFailed), schemas::Encode(Event(2)));
    b.Log(4, true);
    CHECK(b.TurnUntil([&] { return b.notifier.offered() == 4; }));
    CHECK(b.sink_->WaitFor(4) == Seqs{1, 2, 3, 4});
  }
  SUBCASE("a garbled frame or a foreign topic is dropped") {
    b.Publish(schemas::RunTopic(schemas::event::kFailed), "not msgpack");
    b.Publish(schemas::AlertTopic(schemas::alert::kNoSuccess), "\xc1");
    REQUIRE(b.notifier.Turn(50ms).ok());
    CHECK(b.notifier.offered() == 3);
    CHECK_FALSE(b.notifier.behind());
  }
}

// A sink that cannot deliver yet: every attempt is a failure to retry later.
class FailingSink final : public notifier::Sink {
 public:
  std::string name() const override { return "failing"; }
  notifier::Attempt Deliver(const Notification&) override {
    return notifier::Attempt::Retry("down", std::chrono::milliseconds(60'000));
  }
};

TEST_CASE("new sinks from a reload get what follows, and what the old ones had not finished") {
  Bench b;
  REQUIRE(b.notifier.Start(b.stop).ok());
  b.Log(1, true);
  b.Log(2, true);
  CHECK(b.TurnUntil([&] { return b.notifier.committed() == 2; }));
  CHECK(b.sink_->WaitFor(2) == Seqs{1, 2});

  // Sinks that receive nothing they are given, then the ones that do.
  common::SystemClock clock;
  auto failing = std::make_unique<notifier::SinkRouter>(clock);
  failing->AddQueue(std::make_unique<FailingSink>(), notifier::RetryPolicy{}, 100, "");
  failing->AddRoute(notifier::Route{0, std::nullopt, {}, {"*"}});
  REQUIRE(failing->Start().ok());
  b.notifier.ReplaceRouter(std::move(failing), 50ms);
  b.Log(3, true);
  CHECK(b.TurnUntil([&] { return b.notifier.offered() == 3; }));
  REQUIRE(b.notifier.Turn(50ms).ok());
  CHECK(b.notifier.committed() == 2);  // 3 is not delivered anywhere yet

  auto recording = std::make_unique<notifier::SinkRouter>(clock);
  auto sink = std::make_unique<RecordingSink>();
  RecordingSink* fresh = sink.get();
  recording->AddQueue(std::move(sink), notifier::RetryPolicy{}, 100, "");
  recording->AddRoute(notifier::Route{0, std::nullopt, {}, {"*"}});
  REQUIRE(recording->Start().ok());
  b.notifier.ReplaceRouter(std::move(recording), 50ms);
  b.Log(4, true);
  CHECK(b.TurnUntil([&] { return b.notifier.committed() == 4; }));
  // 3 again (from the broker's log) and 4; nothing the first sinks finished.
  CHECK(fresh->WaitFor(2) == Seqs{3, 4});
  CHECK(b.sink_->WaitFor(3) == Seqs{1, 2});  // the first sink got nothing more
  CHECK(b.cursor.Load().value().seq == 4);
}

TEST_CASE("while the broker cannot replay, the notifier stays behind and catches up once it can") {
  Bench b;
  b.Refuse(true);
  REQUIRE(b.notifier.Start(b.stop).ok());
  CHECK(b.notifier.behind());
  b.Log(1, true);
  b.Log(2, true);
  REQUIRE(b.notifier.Turn(50ms).ok());
  CHECK(b.notifier.offered() == 0);  // bus events wait for the replay

  b.Refuse(false);
  CHECK(b.TurnUntil([&] { return b.notifier.offered() == 2 && !b.notifier.behind(); }));
  CHECK(b.sink_->WaitFor(2) == Seqs{1, 2});
}

TEST_CASE("a quiet bus is checked against the log every ten seconds") {
  Bench b;
  REQUIRE(b.notifier.Start(b.stop).ok());
  b.Log(1, false);  // its publication was lost, and nothing follows it
  REQUIRE(b.notifier.Turn(10ms).ok());
  CHECK(b.notifier.offered() == 0);
  b.clock.Advance(10s);
  REQUIRE(b.notifier.Turn(10ms).ok());
  CHECK(b.notifier.offered() == 1);
}

TEST_CASE("with from_newest and no cursor, the notifier starts after the broker's newest event") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 7; ++seq) b.Log(seq, false);
  b.notifier.set_from_newest(true);

  SUBCASE("no cursor yet: skip the history") {
    REQUIRE(b.notifier.Start(b.stop).ok());
    CHECK(b.notifier.offered() == 7);
    CHECK(b.cursor.Load().value().seq == 7);
    CHECK(b.cursor.Load().value().incarnation == "A");
  }
  SUBCASE("a cursor wins") {
    REQUIRE(b.cursor.Store({"A", 5}).ok());
    REQUIRE(b.notifier.Start(b.stop).ok());
    CHECK(b.sink_->WaitFor(2) == Seqs{6, 7});
  }
}

TEST_CASE("a corrupt cursor file stops the notifier with an error naming it") {
  Bench b;
  b.dir.WriteFile("cursor", "garbage");
  const common::Status s = b.notifier.Start(b.stop);
  CHECK(s.code() == common::Code::kCorrupt);
  CHECK(s.message().find(b.dir.Sub("cursor")) != std::string::npos);
  CHECK(b.notifier.Run(b.stop).code() == common::Code::kCorrupt);
}

TEST_CASE("Run drains the sinks and stores the cursor when stopped") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) b.Log(seq, false);
  b.stop.store(true);  // Start replays, then Run stops at once
  REQUIRE(b.notifier.Run(b.stop, 2s).ok());
  CHECK(b.notifier.committed() == 3);
  CHECK(b.cursor.Load().value().seq == 3);
}

TEST_CASE("DecodeNotification reads run and alert topics and rejects others") {
  schemas::AlertEvent alert;
  alert.seq = 9;
  alert.kind = std::string(schemas::alert::kConsecutiveFailures);
  alert.team = 4;
  auto a = notifier::DecodeNotification(schemas::AlertTopic(alert.kind), schemas::Encode(alert));
  REQUIRE(a.ok());
  CHECK(a.value().is_alert);
  CHECK(a.value().seq == 9);
  CHECK(a.value().team() == 4);

  auto r = notifier::DecodeNotification(schemas::RunTopic(schemas::event::kFailed), schemas::Encode(Event(5, "Z9")));
  REQUIRE(r.ok());
  CHECK_FALSE(r.value().is_alert);
  CHECK(r.value().run_id() == "r5");
  CHECK(r.value().event_id() == "Z9:5");

  CHECK(notifier::DecodeNotification(std::string(schemas::topic::kDue), "").status().code() ==
        common::Code::kRejected);
  CHECK_FALSE(notifier::DecodeNotification(schemas::RunTopic(schemas::event::kFailed), "x").ok());
}
