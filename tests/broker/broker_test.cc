// Broker: the loop over real loopback sockets (bound by Listeners, as the
// daemon binds them) around a RunManager on a MemoryStore. A store write
// that fails stops the loop by itself, with a critical log line saying why,
// and Run returns the error (the daemon then exits 1, design.md); nothing
// the failed group held is announced.
#include "broker/broker.h"

#include <doctest/doctest.h>
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

TEST_CASE("a failed store write stops the broker loop, logged, and nothing it held goes out") {
  CapturedLog log;
  MemoryStore store;
  ::testing::FakeClock clock;
  TeamRegistry teams{TeamDefaults{}};
  RunManager manager(store, teams, clock, testing_support::TestSettings());
  REQUIRE(manager.Load().ok());
  schemas::TeamRecord team;
  team.id = 2;
  REQUIRE(manager.PutTeam(team).ok());
  manager.TakeOutbox();  // written; the schedule.changed is nobody's business here
  ControlHandler control(manager, store, teams);

  zmq::context_t context(1);
  common::Config config;
  config.bus_publish = Loopback();
  config.bus_subscribe = Loopback();
  config.control = Loopback();
  config.work = Loopback();
  auto listeners = Listeners::Open(context, config);
  REQUIRE_MESSAGE(listeners.ok(), listeners.status().ToString());
  Broker broker(listeners.value()->sockets(), manager, control, clock);

  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, std::string(schemas::topic::kRunPrefix));
  sub.set(zmq::sockopt::subscribe, "probe");
  sub.connect(config.bus_subscribe);
  zmq::socket_t pub(context, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.connect(config.bus_publish);

  std::atomic<bool> stop{false};
  std::future<common::Status> ran =
      std::async(std::launch::async, [&broker, &stop] { return broker.Run(stop); });

  REQUIRE(WaitForSubscriptions(pub, sub, 10s));

  // A healthy turn first: the trigger is answered and announced.
  schemas::ControlClient client(context, config.control);
  schemas::ControlRequest trigger;
  trigger.op = std::string(schemas::op::kTrigger);
  trigger.team = 2;
  trigger.key = "written";
  auto first = client.Call(trigger, 5000ms);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  const std::string written = first.value().run.run_id;
  // Published before the reply, so it is there by now.
  CHECK(DrainRunTopics(sub, 0ms) == std::vector<std::string>{"run.accepted"});

  std::string reason;
  SUBCASE("write failed") {
    store.faults().fail_writes = true;
    reason = "write failed";
  }
  SUBCASE("disk full") {
    store.faults().no_space = true;
    reason = "No space left on device";
  }
  // The next request's change cannot be written: the loop must end by
  // itself, without `stop`, and without answering.
  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(config.control);
  trigger.key = "lost";
  raw.send(zmq::message_t(), zmq::send_flags::sndmore);
  raw.send(zmq::buffer(schemas::Encode(trigger)), zmq::send_flags::none);

  const bool stopped = ran.wait_for(10s) == std::future_status::ready;
  if (!stopped) {
    stop.store(true);  // let the test end; the check below reports the bug
    ran.wait();
  }
  REQUIRE_MESSAGE(stopped, "the broker kept running after a failed write");
  const common::Status s = ran.get();
  CHECK_FALSE(s.ok());
  CHECK(s.code() == common::Code::kIoError);
  CHECK(s.message().find(reason) != std::string::npos);
  CHECK(s.message() == manager.failure().message());  // the daemon logs it as "broker stopped: ..."

  // The clear log line: what failed, and that the broker is stopping.
  CHECK(log.Has("[critical] could not write run state: " + s.ToString() +
                "; stopping (a restart reloads what was written)"));

  // The loop has returned, so what it did not send by now it never sends:
  // no reply to the lost trigger, no event for it.
  zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
  CHECK(zmq::poll(&item, 1, 0ms) == 0);
  CHECK(DrainRunTopics(sub, 0ms).empty());
  CHECK(store.FindRunIdByKey("lost").status().code() == common::Code::kNotFound);
  CHECK(store.GetRun(written).ok());
  CHECK(store.FindRunIdByKey("written").value() == written);
}

}  // namespace
}  // namespace broker
