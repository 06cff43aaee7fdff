// Dead letters in the notifier: a give-up waits for the broker to record
// it (notifications.sync) before its sink moves past the event, so a crash
// in between replays the event; redeliveries the broker asks for go to
// their sink only, move no cursor, and are reported delivered. Against an
// inproc bus and a fake control socket holding the broker's event log.
#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "notifier/notifier.h"
#include "notifier/notifier_config.h"
#include "schemas/codec.h"
#include "schemas/topics.h"
#include "tests/common/fake_control_server.h"
#include "tests/common/test_bus.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using notifier::Notification;
using schemas::DeadLetter;
using Seqs = std::vector<std::uint64_t>;

// Refuses (permanently, like an HTTP 404) while told to; records every attempt.
class SwitchSink final : public notifier::Sink {
 public:
  explicit SwitchSink(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  notifier::Attempt Deliver(const Notification& n) override {
    std::lock_guard lock(mu_);
    tried_.push_back(n.seq);
    if (refuse_) return notifier::Attempt::Permanent("HTTP 404 Not Found");
    delivered_.push_back(n.seq);
    return notifier::Attempt::Delivered();
  }
  void Refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }
  Seqs tried() const {
    std::lock_guard lock(mu_);
    return tried_;
  }
  Seqs delivered() const {
    std::lock_guard lock(mu_);
    return delivered_;
  }

 private:
  std::string name_;
  mutable std::mutex mu_;
  bool refuse_ = false;
  Seqs tried_;
  Seqs delivered_;
};

schemas::RunEvent Event(std::uint64_t seq) {
  schemas::RunEvent e;
  e.seq = seq;
  e.incarnation = "A";
  e.event = std::string(schemas::event::kFailed);
  e.run.run_id = "r" + std::to_string(seq);
  e.run.team = 2;
  e.run.state = schemas::RunState::kFailed;
  return e;
}

// The broker as the notifier sees it: an event log, and dead letters that
// syncs record and redeliveries an operator asked for.
class FakeBroker {
 public:
  explicit FakeBroker(zmq::context_t& context) : server_(context, "inproc://control") {
    server_.set_handler([this](const schemas::ControlRequest& r) { return Answer(r); });
  }
  void Log(std::uint64_t seq) {
    std::lock_guard lock(mu_);
    schemas::LoggedEvent e;
    e.seq = seq;
    e.topic = schemas::RunTopic(schemas::event::kFailed);
    const std::string payload = schemas::Encode(Event(seq));
    e.payload.assign(payload.begin(), payload.end());
    log_.push_back(e);
  }
  // While down, every notifications.sync gets an io_error (as if the
  // broker did not answer); the log is still served.
  void SyncDown(bool down) {
    std::lock_guard lock(mu_);
    sync_down_ = down;
  }
  void Ask(const std::string& sink, std::uint64_t seq) {
    std::lock_guard lock(mu_);
    DeadLetter d;
    d.sink = sink;
    d.seq = seq;
    d.redeliver = true;
    letters_[{sink, seq}] = d;
  }
  std::map<std::pair<std::string, std::uint64_t>, DeadLetter> letters() const {
    std::lock_guard lock(mu_);
    return letters_;
  }
  std::vector<DeadLetter> delivered_reports() const {
    std::lock_guard lock(mu_);
    return delivered_;
  }
  int syncs() const { return server_.calls(std::string(schemas::op::kNotificationsSync)); }

 private:
  schemas::ControlReply Answer(const schemas::ControlRequest& r) {
    std::lock_guard lock(mu_);
    if (sync_down_ && r.op == schemas::op::kNotificationsSync) {
      return testing::FakeControlServer::Refuse("broker busy");
    }
    auto reply = testing::FakeControlServer::Ok();
    reply.last_seq = log_.empty() ? 0 : log_.back().seq;
    reply.incarnation = "A";
    if (r.op == schemas::op::kEventsSince) {
      for (const auto& e : log_) {
        if (e.seq > r.since_seq && reply.events.size() < r.limit) reply.events.push_back(e);
      }
    } else if (r.op == schemas::op::kNotificationsSync) {
      for (DeadLetter d : r.dead_letters) {
        d.redeliver = false;
        letters_[{d.sink, d.seq}] = d;
      }
      for (const DeadLetter& d : r.delivered) {
        delivered_.push_back(d);
        auto it = letters_.find({d.sink, d.seq});
        if (it != letters_.end() && it->second.redeliver) letters_.erase(it);
      }
      for (const auto& [key, d] : letters_) {
        if (d.redeliver) reply.dead_letters.push_back(d);
      }
    }
    return reply;
  }

  testing::FakeControlServer server_;
  mutable std::mutex mu_;
  std::vector<schemas::LoggedEvent> log_;
  std::map<std::pair<std::string, std::uint64_t>, DeadLetter> letters_;
  std::vector<DeadLetter> delivered_;
  bool sync_down_ = false;
};

// A notifier process: its router with sinks "alpha" and "beta" (each with
// its own cursor file), over the shared cursor files in `dir`.
class Process {
 public:
  Process(zmq::context_t& context, zmq::socket_t& subscriber, const testing::TempDir& dir)
      : client_(context, "inproc://control"), cursor_(dir.Sub("cursor")) {
    for (const char* name : {"alpha", "beta"}) {
      auto sink = std::make_unique<SwitchSink>(name);
      sinks_[name] = sink.get();
      const std::size_t q = router_.AddQueue(std::move(sink), notifier::RetryPolicy{}, 100,
                                             dir.Sub(std::string("cursor.") + name));
      router_.AddRoute(notifier::Route{q, std::nullopt, {}, {"*"}});
    }
    REQUIRE(router_.Start().ok());
    notifier_ = std::make_unique<notifier::Notifier>(subscriber, client_, cursor_, router_, clock_);
    notifier_->set_dead_letter_sync_every(100ms);
  }
  SwitchSink& sink(const std::string& name) { return *sinks_.at(name); }
  notifier::Notifier& notifier() { return *notifier_; }
  notifier::SinkRouter& router() { return router_; }
  // Turns (the fake clock a little ahead each time) until `done`, for 5 s at most.
  bool TurnUntil(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      REQUIRE(notifier_->Turn(5ms).ok());
      clock_.Advance(50ms);
    }
    return true;
  }
  // A crash as far as delivery goes: transfers and waits are cut short and
  // nothing more is stored.
  void Crash() { router_.Stop(0ms); }

 private:
  schemas::ControlClient client_;
  notifier::CursorFile cursor_;
  common::SystemClock sink_clock_;
  notifier::SinkRouter router_{sink_clock_};
  testing::FakeClock clock_;
  std::map<std::string, SwitchSink*> sinks_;
  std::unique_ptr<notifier::Notifier> notifier_;

 public:
  std::atomic<bool> stop{false};
};

class Bench {
 public:
  Bench() : broker(context_) {
    bus_.bind("inproc://bus");
    subscriber_.set(zmq::sockopt::subscribe, std::string(schemas::topic::kRunPrefix));
    subscriber_.connect("inproc://bus");
    REQUIRE(testing::WaitConnected(bus_, subscriber_, schemas::RunTopic("probe")));
  }
  // A notifier process, set up by `before` (its sinks' answers), started.
  std::unique_ptr<Process> Start(const std::function<void(Process&)>& before = {}) {
    auto p = std::make_unique<Process>(context_, subscriber_, dir);
    if (before) before(*p);
    REQUIRE(p->notifier().Start(p->stop).ok());
    return p;
  }
  std::uint64_t SinkCursor(const std::string& name) {
    return notifier::CursorFile(dir.Sub("cursor." + name)).Load().value().seq;
  }

 private:
  zmq::context_t context_;

 public:
  FakeBroker broker;
  testing::TempDir dir;

 private:
  zmq::socket_t bus_{context_, zmq::socket_type::pub};
  zmq::socket_t subscriber_{context_, zmq::socket_type::sub};
};

bool Has(const Seqs& seqs, std::uint64_t seq, std::size_t times = 1) {
  return static_cast<std::size_t>(std::count(seqs.begin(), seqs.end(), seq)) >= times;
}

}  // namespace

TEST_CASE("a give-up reaches notifications.sync with its sink, event, run, team, tries and reason") {
  Bench b;
  b.broker.Log(1);
  b.broker.Log(2);
  auto p = b.Start([](Process& fresh) { fresh.sink("alpha").Refuse(true); });
  REQUIRE(p->TurnUntil([&] { return b.broker.letters().count({"alpha", 1}) == 1; }));
  const DeadLetter d = b.broker.letters().at({"alpha", 1});
  CHECK(d.topic == "run.failed");
  CHECK(d.run_id == "r1");
  CHECK(d.team == 2);
  CHECK(d.attempts == 1);
  CHECK(d.reason == "HTTP 404 Not Found");
  CHECK(d.failed_unix_ms > 0);
  CHECK_FALSE(d.redeliver);
  CHECK(b.broker.letters().count({"beta", 1}) == 0);  // beta took it
  // Recorded, so the sink moved on: the cursor passes both events.
  CHECK(p->TurnUntil([&] { return p->notifier().committed() == 2; }));
}

TEST_CASE("while the broker does not answer, a sink does not pass its give-up, and a restart replays it") {
  Bench b;
  b.broker.Log(1);
  b.broker.Log(2);
  auto p = b.Start();
  REQUIRE(p->TurnUntil([&] { return p->notifier().committed() == 2; }));
  p->sink("alpha").Refuse(true);
  b.broker.SyncDown(true);  // it serves the log, but records nothing
  const int syncs_before = b.broker.syncs();
  b.broker.Log(3);  // found by the quiet-bus check of the log
  REQUIRE(p->TurnUntil([&] { return Has(p->sink("alpha").tried(), 3); }));
  // Alpha gave up on 3 and waits for the broker: many turns, many syncs
  // tried, and neither cursor passes 3.
  REQUIRE(p->TurnUntil([&] { return b.broker.syncs() >= syncs_before + 3; }));
  CHECK(p->notifier().committed() == 2);
  CHECK(b.SinkCursor("alpha") == 2);
  CHECK_FALSE(p->router().Idle());
  CHECK(b.broker.letters().empty());
  // Killed now: the give-up never reached the broker.
  p->Crash();
  CHECK(b.SinkCursor("alpha") == 2);
  p.reset();

  b.broker.SyncDown(false);
  auto again = b.Start([](Process& fresh) { fresh.sink("alpha").Refuse(true); });
  // The event is offered again and given up again, and this time recorded.
  REQUIRE(again->TurnUntil([&] { return b.broker.letters().count({"alpha", 3}) == 1; }));
  CHECK(Has(again->sink("alpha").tried(), 3));
  CHECK(again->TurnUntil([&] { return again->notifier().committed() == 3; }));
  CHECK(again->TurnUntil([&] { return b.SinkCursor("alpha") == 3; }));
}

TEST_CASE("a redelivery goes to its sink only, moves no cursor, and is reported delivered once") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) b.broker.Log(seq);
  auto p = b.Start();
  REQUIRE(p->TurnUntil([&] { return p->notifier().committed() == 3 && b.SinkCursor("alpha") == 3; }));
  REQUIRE(p->sink("alpha").delivered() == Seqs{1, 2, 3});

  b.broker.Ask("alpha", 2);
  REQUIRE(p->TurnUntil([&] { return Has(p->sink("alpha").delivered(), 2, 2); }));
  // Reported delivered, so the broker clears it and asks no more.
  REQUIRE(p->TurnUntil([&] { return b.broker.letters().empty(); }));
  const auto reports = b.broker.delivered_reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].sink == "alpha");
  CHECK(reports[0].seq == 2);
  // More turns and syncs: no second redelivery, beta never saw it again.
  const int syncs = b.broker.syncs();
  REQUIRE(p->TurnUntil([&] { return b.broker.syncs() >= syncs + 3; }));
  CHECK(p->sink("alpha").delivered() == Seqs{1, 2, 3, 2});
  CHECK(p->sink("beta").delivered() == Seqs{1, 2, 3});
  // The old seq moved no cursor back (and none forward).
  CHECK(p->notifier().committed() == 3);
  CHECK(b.SinkCursor("alpha") == 3);
  // New events still flow after it.
  b.broker.Log(4);
  CHECK(p->TurnUntil([&] { return p->notifier().committed() == 4 && Has(p->sink("alpha").delivered(), 4); }));
}

TEST_CASE("a redelivery that cannot be made or fails again is a dead letter again, with the reason") {
  Bench b;
  for (std::uint64_t seq = 1; seq <= 2; ++seq) b.broker.Log(seq);
  auto p = b.Start();
  REQUIRE(p->TurnUntil([&] { return p->notifier().committed() == 2; }));

  SUBCASE("the sink refuses again") {
    p->sink("alpha").Refuse(true);
    b.broker.Ask("alpha", 1);
    REQUIRE(p->TurnUntil([&] {
      auto letters = b.broker.letters();
      return letters.count({"alpha", 1}) == 1 && !letters.at({"alpha", 1}).redeliver;
    }));
    CHECK(b.broker.letters().at({"alpha", 1}).reason == "HTTP 404 Not Found");
    CHECK(b.broker.delivered_reports().empty());
  }
  SUBCASE("no such sink any more") {
    b.broker.Ask("gamma", 1);
    REQUIRE(p->TurnUntil([&] { return !b.broker.letters().at({"gamma", 1}).redeliver; }));
    CHECK(b.broker.letters().at({"gamma", 1}).reason.find("no sink \"gamma\"") != std::string::npos);
  }
  SUBCASE("the event is no longer in the broker's log") {
    b.broker.Ask("alpha", 99);
    REQUIRE(p->TurnUntil([&] { return !b.broker.letters().at({"alpha", 99}).redeliver; }));
    CHECK(b.broker.letters().at({"alpha", 99}).reason ==
          "event seq 99 is no longer in the broker's event log");
  }
  CHECK(p->sink("beta").delivered() == Seqs{1, 2});
  CHECK(p->notifier().committed() == 2);
}

TEST_CASE("notifier.dead_letter_sync_s is read, and a period out of 0.05-3600 s is an error naming it") {
  testing::TempDir dir;
  auto load = [&](const std::string& text) {
    return notifier::LoadNotifierConfig(dir.WriteFile("notifier.toml", text),
                                        [](const char*) -> const char* { return nullptr; });
  };
  auto defaults = load("[notifier]\n");
  REQUIRE(defaults.ok());
  CHECK(defaults.value().dead_letter_sync_s == 5);
  auto quick = load("[notifier]\ndead_letter_sync_s = 0.2\n");
  REQUIRE(quick.ok());
  CHECK(quick.value().dead_letter_sync_s == doctest::Approx(0.2));
  for (const char* bad : {"0", "0.01", "7200"}) {
    auto refused = load(std::string("[notifier]\ndead_letter_sync_s = ") + bad + "\n");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message().find("notifier.dead_letter_sync_s") != std::string::npos);
  }
}
