// Broker: the loop over real loopback sockets (bound by Listeners, as the
// daemon binds them) around a RunManager on a MemoryStore. A store write
// that fails stops the loop by itself, with a critical log line saying why,
// and Run returns the error (the daemon then exits 1, design.md); nothing
// the failed group held is announced. A full disk does not stop it: writes
// wait, refused with no_space, and go out once space returns.
#include "broker/broker.h"

#include <doctest/doctest.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "broker/listeners.h"
#include "broker/memory_store.h"
#include "schemas/codec.h"
#include "schemas/control_client.h"
#include "schemas/topics.h"
#include "tests/broker/harness.h"
#include "tests/support/test_process.h"

namespace broker {
namespace {

using namespace std::chrono_literals;

std::string Loopback() { return "tcp://127.0.0.1:" + std::to_string(::testing::FreePort()); }

// Log lines go to a ring buffer for the test's life, then the old logger is back.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    auto logger = std::make_shared<spdlog::logger>("broker_test", sink_);
    logger->set_level(spdlog::level::info);
    logger->set_pattern("[%l] %v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> lines() const { return sink_->last_formatted(); }
  bool Has(const std::string& text) const {
    for (const std::string& line : lines()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Publishes a probe frame through the broker until `sub` (subscribed to
// "probe" after its other topics) receives one: then every subscription of
// `sub` is in place at the broker's XPUB. False after `deadline`.
bool WaitForSubscriptions(zmq::socket_t& pub, zmq::socket_t& sub, std::chrono::seconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    pub.send(zmq::str_buffer("probe"), zmq::send_flags::sndmore);
    pub.send(zmq::str_buffer("{}"), zmq::send_flags::none);
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 50ms) == 0) continue;  // not yet through: publish again
    zmq::message_t topic, payload;
    while (sub.recv(topic, zmq::recv_flags::dontwait)) {  // drop every probe that came
      REQUIRE(sub.recv(payload));
      REQUIRE(topic.to_string() == "probe");
    }
    return true;
  }
  return false;
}

// The topics of every frame that reached `sub`.
std::vector<std::string> DrainRunTopics(zmq::socket_t& sub, std::chrono::milliseconds first_wait) {
  std::vector<std::string> topics;
  std::chrono::milliseconds wait = first_wait;
  while (true) {
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) == 0) return topics;
    zmq::message_t topic, payload;
    REQUIRE(sub.recv(topic));
    REQUIRE(sub.recv(payload));
    topics.push_back(topic.to_string());
    wait = 0ms;
  }
}

// A broker loop running on its own thread over real loopback sockets, with
// team 2 known (queueing its runs) and one trigger ("written") answered and
// announced.
struct LiveBroker {
  CapturedLog log;
  MemoryStore store;
  ::testing::FakeClock clock;
  TeamRegistry teams{TeamDefaults{}};
  RunManager manager{store, teams, clock, testing_support::TestSettings()};
  std::unique_ptr<ControlHandler> control;
  zmq::context_t context{1};
  common::Config config;
  std::unique_ptr<Listeners> listeners;
  std::unique_ptr<Broker> broker;
  zmq::socket_t sub{context, zmq::socket_type::sub};
  zmq::socket_t pub{context, zmq::socket_type::pub};
  std::unique_ptr<schemas::ControlClient> client;
  std::atomic<bool> stop{false};
  std::future<common::Status> ran;
  std::string written;  // the run id of the healthy trigger

  LiveBroker() {
    REQUIRE(manager.Load().ok());
    schemas::TeamRecord team;
    team.id = 2;
    team.overlap = "queue";  // no runner: later runs queue behind "written"
    REQUIRE(manager.PutTeam(team).ok());
    manager.TakeOutbox();  // written; the schedule.changed is nobody's business here
    control = std::make_unique<ControlHandler>(manager, store, teams);
    config.bus_publish = Loopback();
    config.bus_subscribe = Loopback();
    config.control = Loopback();
    config.work = Loopback();
    auto opened = Listeners::Open(context, config);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    listeners = std::move(opened).value();
    broker = std::make_unique<Broker>(listeners->sockets(), manager, *control, clock);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::subscribe, std::string(schemas::topic::kRunPrefix));
    sub.set(zmq::sockopt::subscribe, "probe");
    sub.connect(config.bus_subscribe);
    pub.set(zmq::sockopt::linger, 0);
    pub.connect(config.bus_publish);
    ran = std::async(std::launch::async, [this] { return broker->Run(stop); });
    REQUIRE(WaitForSubscriptions(pub, sub, 10s));
    client = std::make_unique<schemas::ControlClient>(context, config.control);
    auto first = client->Call(Trigger("written"), 5000ms);
    REQUIRE_MESSAGE(first.ok(), first.status().ToString());
    written = first.value().run.run_id;
    // Published before the reply; its hop to the subscriber may still be
    // under way, so the first frame is waited for (and nothing after it).
    CHECK(DrainRunTopics(sub, 5000ms) == std::vector<std::string>{"run.accepted"});
  }
  ~LiveBroker() {
    stop.store(true);
    if (ran.valid()) ran.wait();
  }

  static schemas::ControlRequest Trigger(const std::string& key) {
    schemas::ControlRequest trigger;
    trigger.op = std::string(schemas::op::kTrigger);
    trigger.team = 2;
    trigger.key = key;
    return trigger;
  }
  // The reply; a refusal comes back as its error Status.
  common::Result<schemas::ControlReply> Call(const schemas::ControlRequest& request) {
    return client->Call(request, 5000ms);
  }
};

TEST_CASE("a failed store write stops the broker loop, logged, and nothing it held goes out") {
  LiveBroker b;
  b.store.faults().fail_writes = true;
  const std::string reason = "write failed";
  // The next request's change cannot be written: the loop must end by
  // itself, without `stop`, and without answering.
  zmq::socket_t raw(b.context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(b.config.control);
  raw.send(zmq::message_t(), zmq::send_flags::sndmore);
  raw.send(zmq::buffer(schemas::Encode(LiveBroker::Trigger("lost"))), zmq::send_flags::none);

  const bool stopped = b.ran.wait_for(10s) == std::future_status::ready;
  if (!stopped) {
    b.stop.store(true);  // let the test end; the check below reports the bug
    b.ran.wait();
  }
  REQUIRE_MESSAGE(stopped, "the broker kept running after a failed write");
  const common::Status s = b.ran.get();
  CHECK_FALSE(s.ok());
  CHECK(s.code() == common::Code::kIoError);
  CHECK(s.message().find(reason) != std::string::npos);
  CHECK(s.message() == b.manager.failure().message());  // the daemon logs it as "broker stopped: ..."

  // The clear log line: what failed, and that the broker is stopping.
  CHECK(b.log.Has("[critical] could not write run state: " + s.ToString() +
                  "; stopping (a restart reloads what was written)"));

  // The loop has returned, so what it did not send by now it never sends:
  // no reply to the lost trigger, no event for it.
  zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
  CHECK(zmq::poll(&item, 1, 0ms) == 0);
  CHECK(DrainRunTopics(b.sub, 0ms).empty());
  CHECK(b.store.FindRunIdByKey("lost").status().code() == common::Code::kNotFound);
  CHECK(b.store.GetRun(b.written).ok());
  CHECK(b.store.FindRunIdByKey("written").value() == b.written);
}

TEST_CASE("a full disk is a state, not a stop: writes refused with no_space, reads answered, all written once space returns") {
  LiveBroker b;
  schemas::ControlRequest ping;
  ping.op = std::string(schemas::op::kPing);
  const std::uint64_t written_seq = b.Call(ping).value().last_seq;
  b.store.faults().no_space_when_writing = true;  // the next write meets the full disk

  // The request that met the full disk: decided, not written, and its reply
  // says so (it is not an acknowledgement).
  const auto first = b.Call(LiveBroker::Trigger("held"));
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().code() == common::Code::kNoSpace);
  CHECK(first.status().message().find("ask again") != std::string::npos);
  // Later writes are refused up front, with the same code and the setting to change.
  const auto refused = b.Call(LiveBroker::Trigger("refused"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == common::Code::kNoSpace);
  // Reads are answered, and ping says why the broker is degraded; its
  // last_seq is what is written, not the held run's event.
  const auto pong = b.Call(ping);
  REQUIRE(pong.ok());
  CHECK(pong.value().stats.at("no_space") == 1);
  CHECK(pong.value().last_seq == written_seq);
  schemas::ControlRequest get;
  get.op = std::string(schemas::op::kRunGet);
  get.run_id = b.written;
  CHECK(b.Call(get).ok());
  CHECK(DrainRunTopics(b.sub, 100ms).empty());  // nothing announced that is not written
  CHECK(b.ran.wait_for(0ms) == std::future_status::timeout);  // still running
  CHECK(b.log.Has("No space left on device"));

  b.store.faults().no_space_when_writing = false;  // space is back
  // The held run is written and announced on the next turn.
  const std::vector<std::string> announced = DrainRunTopics(b.sub, 5000ms);
  CHECK_MESSAGE(announced == std::vector<std::string>{"run.queued"}, fmt::format("{}", fmt::join(announced, " ")));
  CHECK(b.store.FindRunIdByKey("held").ok());
  CHECK(b.store.FindRunIdByKey("refused").status().code() == common::Code::kNotFound);
  // Asking again finds the held run; the refused one is new now.
  const auto again = b.Call(LiveBroker::Trigger("held"));
  REQUIRE(again.ok());
  CHECK(again.value().duplicate);
  CHECK(again.value().run.run_id == b.store.FindRunIdByKey("held").value());
  CHECK(b.Call(LiveBroker::Trigger("refused")).ok());
  CHECK(b.Call(ping).value().stats.at("no_space") == 0);
  CHECK(b.log.Has("space is back"));
}

}  // namespace
}  // namespace broker
