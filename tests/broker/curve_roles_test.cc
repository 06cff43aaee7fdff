// CURVE key roles (issue 11, "Runner authority"): over real loopback
// sockets bound by Listeners with CURVE on, around a RunManager on a
// MemoryStore, each key may do only what its role allows -- a runner key
// speaks only for the runner_id it is bound to and only on the work socket,
// a client key never acts as a runner, a publisher key reads and triggers
// but changes nothing -- and the key lists refuse malformed entries with
// the list and the entry named.
#include <doctest/doctest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/listeners.h"
#include "broker/memory_store.h"
#include "broker/zap_handler.h"
#include "common/config.h"
#include "common/security.h"
#include "schemas/codec.h"
#include "schemas/control_client.h"
#include "schemas/topics.h"
#include "tests/broker/harness.h"
#include "tests/support/test_process.h"

namespace broker {
namespace {

using namespace std::chrono_literals;
using common::KeyPair;

std::string Loopback() { return "tcp://127.0.0.1:" + std::to_string(::testing::FreePort()); }

KeyPair NewKeys() {
  auto pair = common::NewKeyPair();
  REQUIRE_MESSAGE(pair.ok(), pair.status().ToString());
  return pair.value();
}

// Log lines go to a ring buffer for the test's life, then the old logger is back.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    auto logger = std::make_shared<spdlog::logger>("curve_roles_test", sink_);
    logger->set_level(spdlog::level::info);
    logger->set_pattern("[%l] %v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  bool Has(const std::string& text) const {
    for (const std::string& line : sink_->last_formatted()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// A broker with CURVE on and these keys: runner-1's key, a client's, a
// publisher's and a legacy authorized_clients key.
class SecureBroker {
 public:
  SecureBroker()
      : broker_keys_(NewKeys()),
        runner1(NewKeys()),
        client(NewKeys()),
        publisher(NewKeys()),
        legacy(NewKeys()),
        team_publisher(NewKeys()),
        teams_(TeamDefaults{}),
        manager_(store_, teams_, clock_, testing_support::TestSettings()),
        control_(manager_, store_, teams_) {
    REQUIRE(manager_.Load().ok());
    for (std::uint32_t id : {1u, 2u}) {
      schemas::TeamRecord team;
      team.id = id;
      REQUIRE(manager_.PutTeam(team).ok());
    }
    REQUIRE(manager_.Persist().ok());
    config_.bus_publish = Loopback();
    config_.bus_subscribe = Loopback();
    config_.control = Loopback();
    config_.work = Loopback();
    config_.curve_enabled = true;
    config_.broker_public_key = broker_keys_.public_key;
    config_.broker_secret_key = broker_keys_.secret_key;
    config_.runner_keys = {runner1.public_key + "=runner-1"};
    config_.client_keys = {client.public_key};
    config_.publisher_keys = {publisher.public_key, team_publisher.public_key + "=ticker-1@1"};
    config_.authorized_clients = {legacy.public_key};
    REQUIRE(common::ValidateSecurity(config_, /*broker=*/true).ok());
    auto listeners = Listeners::Open(context_, config_);
    REQUIRE_MESSAGE(listeners.ok(), listeners.status().ToString());
    listeners_ = std::move(listeners).value();
    broker_ = std::make_unique<Broker>(listeners_->sockets(), manager_, control_, clock_);
    ran_ = std::async(std::launch::async, [this] { return broker_->Run(stop_); });
  }
  ~SecureBroker() { Stop(); }

  // Stops the loop; its counters may be read after.
  void Stop() {
    if (!ran_.valid()) return;
    stop_.store(true);
    ran_.wait();
    CHECK(ran_.get().ok());
  }
  const BrokerCounters& counters() const { return broker_->counters(); }
  // A reload of the key lists to `config` (as SIGHUP would make of it).
  void ReloadKeys(const common::Config& config) {
    auto keys = common::AuthorizedKeys(config);
    REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
    Broker::Reloaded reloaded;
    reloaded.keys = std::move(keys).value();
    reloaded.retry = testing_support::TestSettings().retry;
    broker_->RequestReload(std::move(reloaded));
  }
  std::uint64_t refused_connections() const { return listeners_->sockets().zap->refused(); }
  zmq::context_t& context() { return context_; }
  const common::Config& config() const { return config_; }

  // How a peer holding `keys` sets up its socket.
  schemas::ControlClient::SocketSetup As(const KeyPair& keys) const {
    common::Config peer;
    peer.curve_enabled = true;
    peer.broker_public_key = broker_keys_.public_key;
    peer.client_public_key = keys.public_key;
    peer.client_secret_key = keys.secret_key;
    return [peer](zmq::socket_t& s) { common::ApplyClientSecurity(s, peer); };
  }

  // Connects to the work socket as `runner_id` with `keys`, says hello and
  // returns the broker's first answer, if any came within `wait`.
  std::optional<schemas::BrokerMessage> Hello(const KeyPair& keys, const std::string& runner_id,
                                              std::chrono::milliseconds wait = 5000ms) {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::routing_id, runner_id);
    As(keys)(dealer);
    dealer.connect(config_.work);
    schemas::RunnerMessage hello;
    hello.type = std::string(schemas::runner_msg::kHello);
    hello.runner_id = runner_id;
    hello.protocol = schemas::kWorkProtocol;
    hello.slots = 1;
    dealer.send(zmq::buffer(schemas::Encode(hello)), zmq::send_flags::none);
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) == 0) return std::nullopt;
    zmq::message_t reply;
    REQUIRE(dealer.recv(reply));
    auto decoded = schemas::DecodeBrokerMessage(reply.to_string_view());
    REQUIRE_MESSAGE(decoded.ok(), decoded.status().ToString());
    return decoded.value();
  }

  // Publishes `due` on the bus with `keys` until its due.ack comes (PUB
  // drops what it sends before the connection is up), within 5 s.
  std::optional<schemas::DueAck> PublishDue(const KeyPair& keys, const schemas::DueEvent& due) {
    zmq::socket_t sub(context_, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    As(keys)(sub);
    sub.set(zmq::sockopt::subscribe, std::string(schemas::topic::kDueAck));
    sub.connect(config_.bus_subscribe);
    zmq::socket_t pub(context_, zmq::socket_type::pub);
    pub.set(zmq::sockopt::linger, 0);
    As(keys)(pub);
    pub.connect(config_.bus_publish);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      pub.send(zmq::buffer(std::string(schemas::topic::kDue)), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(schemas::Encode(due)), zmq::send_flags::none);
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 100ms) == 0) continue;
      zmq::message_t topic, payload;
      REQUIRE(sub.recv(topic));
      REQUIRE(sub.recv(payload));
      auto ack = schemas::DecodeDueAck(payload.to_string_view());
      if (ack.ok() && ack.value().key == due.key) return ack.value();
    }
    return std::nullopt;
  }

  common::Result<schemas::ControlReply> Get(const std::string& run_id) {
    schemas::ControlClient control(context_, config_.control, As(client));
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kRunGet);
    request.run_id = run_id;
    return control.Call(request, 5000ms);
  }

  common::Result<schemas::ControlReply> Ask(const KeyPair& keys, std::string_view op,
                                            std::chrono::milliseconds wait = 5000ms) {
    schemas::ControlClient control(context_, config_.control, As(keys));
    schemas::ControlRequest request;
    request.op = std::string(op);
    request.run_id = "r0000000404";  // for cancel: no such run
    return control.Call(request, wait);
  }

 private:
  KeyPair broker_keys_;

 public:
  const KeyPair runner1, client, publisher, legacy;
  const KeyPair team_publisher;  // "ticker-1", for team 1 only

 private:
  MemoryStore store_;
  ::testing::FakeClock clock_;
  TeamRegistry teams_;
  RunManager manager_;
  ControlHandler control_;
  zmq::context_t context_{1};
  common::Config config_;
  std::unique_ptr<Listeners> listeners_;
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::future<common::Status> ran_;
};

bool IsWelcome(const std::optional<schemas::BrokerMessage>& m) {
  return m.has_value() && m->type == schemas::broker_msg::kWelcome;
}

TEST_CASE("a runner key bound to runner-1 says hello as runner-1 but never as runner-2") {
  CapturedLog log;
  SecureBroker broker;
  CHECK(IsWelcome(broker.Hello(broker.runner1, "runner-1")));
  // Same key, another runner's name: dropped, logged and counted, unanswered.
  CHECK_FALSE(broker.Hello(broker.runner1, "runner-2", 1500ms).has_value());
  broker.Stop();
  CHECK(broker.counters().refused_keys == 1);
  CHECK(log.Has("dropped runner message hello from runner-2: the key is bound to runner runner-1"));
}

TEST_CASE("a client or publisher key cannot act as a runner on the work socket") {
  CapturedLog log;
  SecureBroker broker;
  SUBCASE("client") {
    CHECK_FALSE(broker.Hello(broker.client, "runner-1", 1500ms).has_value());
    CHECK(log.Has("on the work socket: a client key may not act as a runner"));
  }
  SUBCASE("publisher") {
    CHECK_FALSE(broker.Hello(broker.publisher, "runner-1", 1500ms).has_value());
    CHECK(log.Has("on the work socket: a publisher key may not act as a runner"));
  }
  broker.Stop();
  CHECK(broker.refused_connections() >= 1);  // refused at the handshake, by ZAP
  CHECK(broker.counters().refused_keys == 0);  // so no message ever reached the loop
}

TEST_CASE("on the control socket a runner key gets nothing, a publisher only reads and triggers") {
  CapturedLog log;
  SecureBroker broker;
  SUBCASE("a runner key is refused at the handshake") {
    CHECK_FALSE(broker.Ask(broker.runner1, schemas::op::kPing, 1500ms).ok());
    CHECK(log.Has("on the control socket: a runner key may not use the control socket"));
  }
  SUBCASE("a publisher key reads") {
    CHECK(broker.Ask(broker.publisher, schemas::op::kPing).ok());
    CHECK(broker.Ask(broker.publisher, schemas::op::kTeamsList).ok());
  }
  SUBCASE("a publisher key may not cancel, and is told why") {
    auto reply = broker.Ask(broker.publisher, schemas::op::kCancel);
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.status().message().find(
              "a publisher key may not send \"cancel\" (it needs a client key") != std::string::npos);
    broker.Stop();
    CHECK(broker.counters().refused_keys == 1);
  }
  SUBCASE("a client key may cancel: the answer is the handler's own") {
    auto reply = broker.Ask(broker.client, schemas::op::kCancel);
    REQUIRE_FALSE(reply.ok());  // no such run
    CHECK(reply.status().message().find("publisher key") == std::string::npos);
    CHECK(reply.status().message().find("r0000000404") != std::string::npos);
  }
}

TEST_CASE("a publisher key bound to team 1 starts team 1's runs, as itself, and no other team's") {
  SecureBroker broker;
  schemas::DueEvent due;
  due.kind = "manual";
  due.team = 2;
  due.key = "manual-team2-a";
  due.requested_by = "someone";
  const auto refused = broker.PublishDue(broker.team_publisher, due);
  REQUIRE(refused.has_value());
  CHECK(refused->run_id.empty());
  CHECK(refused->error == "key ticker-1 may not start runs of team 2");
  due.team = 1;
  due.key = "manual-team1-a";
  const auto taken = broker.PublishDue(broker.team_publisher, due);
  REQUIRE(taken.has_value());
  REQUIRE_MESSAGE(taken->error.empty(), taken->error);
  auto run = broker.Get(taken->run_id);
  REQUIRE_MESSAGE(run.ok(), run.status().ToString());
  CHECK(run.value().run.team == 1);
  CHECK(run.value().run.requested_by == "ticker-1");  // who it is, not what it said
  // An unbound publisher still starts any team's runs.
  due.team = 2;
  due.key = "manual-team2-b";
  const auto any = broker.PublishDue(broker.publisher, due);
  REQUIRE(any.has_value());
  CHECK(any->error.empty());
}

TEST_CASE("a key bound to team 1 gets due.ack on the bus but no team's run events; an unbound key gets them") {
  CapturedLog log;
  SecureBroker broker;
  auto subscriber = [&](const KeyPair& keys, const std::vector<std::string>& topics) {
    zmq::socket_t sub(broker.context(), zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    broker.As(keys)(sub);
    for (const std::string& t : topics) sub.set(zmq::sockopt::subscribe, t);
    sub.connect(broker.config().bus_subscribe);
    return sub;
  };
  // Every topic it can ask for; only due.ack is applied.
  zmq::socket_t bound = subscriber(broker.team_publisher, {"", "run.", "alert.", "due.ack"});
  zmq::socket_t unbound = subscriber(broker.publisher, {"run."});
  // Reads what `sub` has until `done` says stop, within 5 s; false at the deadline.
  auto read_until = [](zmq::socket_t& sub, std::vector<std::string>& topics, auto done) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 100ms) == 0) continue;
      zmq::message_t topic, payload;
      REQUIRE(sub.recv(topic));
      REQUIRE(sub.recv(payload));
      topics.push_back(topic.to_string());
      if (done(topic.to_string_view(), payload.to_string_view())) return true;
    }
    return false;
  };
  schemas::DueEvent due;
  due.kind = "manual";
  due.team = 1;
  due.key = "manual-team1-bus";
  const auto first = broker.PublishDue(broker.publisher, due);
  REQUIRE(first.has_value());
  REQUIRE(first->error.empty());
  std::vector<std::string> unbound_saw, bound_saw;
  // The unbound key sees team 1's run accepted.
  CHECK(read_until(unbound, unbound_saw, [&](std::string_view topic, std::string_view payload) {
    auto event = schemas::DecodeRunEvent(payload);
    return topic == "run.accepted" && event.ok() && event.value().run.run_id == first->run_id;
  }));
  // A second due: its ack reaches the bound key after everything the first
  // run sent before it, on the same connection.
  due.key = "manual-team1-bus-2";
  REQUIRE(broker.PublishDue(broker.publisher, due).has_value());
  CHECK(read_until(bound, bound_saw, [&](std::string_view topic, std::string_view payload) {
    auto ack = schemas::DecodeDueAck(payload);
    return topic == "due.ack" && ack.ok() && ack.value().key == due.key;
  }));
  for (const std::string& topic : bound_saw) CHECK(topic == "due.ack");
  CHECK(log.Has("bus: refused key ticker-1's subscription to \"run.\""));
  CHECK(log.Has("bus: refused key ticker-1's subscription to \"\""));
  broker.Stop();
  CHECK(broker.counters().refused_keys >= 3);
}

TEST_CASE("KeyMaySubscribe: a key bound to teams takes due.ack and nothing wider") {
  const common::KeyGrant bound{common::KeyRole::kClient, "", "alice", {1}};
  const common::KeyGrant every{common::KeyRole::kClient, "", "ops", {}};
  for (std::string_view topic : {"", "d", "due", "due.", "run.", "run.started", "alert.", "schedule.changed"}) {
    CAPTURE(topic);
    CHECK_FALSE(KeyMaySubscribe(bound, topic));
    CHECK(KeyMaySubscribe(every, topic));
  }
  CHECK(KeyMaySubscribe(bound, "due.ack"));
}

TEST_CASE("a reload of the key lists admits a new key and refuses a removed one from the next connection") {
  SecureBroker broker;
  const KeyPair newcomer = NewKeys();
  auto ping = [&](const KeyPair& keys) { return broker.Ask(keys, schemas::op::kPing, 1500ms).ok(); };
  CHECK(ping(broker.client));
  CHECK_FALSE(ping(newcomer));
  common::Config reloaded = broker.config();
  reloaded.client_keys = {newcomer.public_key};  // the old client key is gone
  broker.ReloadKeys(reloaded);
  // The loop applies it at its next turn; a new connection is checked against it.
  bool admitted = false;
  for (int i = 0; i < 5 && !admitted; ++i) admitted = ping(newcomer);
  CHECK(admitted);
  CHECK_FALSE(ping(broker.client));
  CHECK(ping(broker.publisher));  // unchanged lists stay
}

TEST_CASE("a deprecated authorized_clients key keeps every role, with a warning") {
  CapturedLog log;
  SecureBroker broker;
  CHECK(log.Has("security.authorized_clients is deprecated"));
  CHECK(IsWelcome(broker.Hello(broker.legacy, "runner-7")));
  CHECK(broker.Ask(broker.legacy, schemas::op::kPing).ok());
  // And a key on no list is refused everywhere, as before.
  const KeyPair stranger = NewKeys();
  CHECK_FALSE(broker.Hello(stranger, "runner-1", 1500ms).has_value());
  CHECK(log.Has("with key " + stranger.public_key + " on the work socket: client key not authorized"));
}

// ---- the key lists -------------------------------------------------------

// A public key with '=' before its end, which the "<key>=<id>" form must
// not split at (the Z85 alphabet has '=').
std::string KeyWithEquals() {
  for (int i = 0; i < 1000; ++i) {
    const std::string key = NewKeys().public_key;
    if (key.find('=') < 39) return key;
  }
  FAIL("no key with '=' in 1000 tries");
  return "";
}

common::Config Secure() {
  common::Config c;
  c.curve_enabled = true;
  const KeyPair broker = NewKeys();
  c.broker_public_key = broker.public_key;
  c.broker_secret_key = broker.secret_key;
  return c;
}

std::string ErrorOf(const common::Config& c) {
  const common::Status s = common::ValidateSecurity(c, /*broker=*/true);
  return s.ok() ? "" : s.message();
}

TEST_CASE("the key lists give each key its role, and a runner key its runner_id") {
  common::Config c = Secure();
  const std::string runner = KeyWithEquals();
  const std::string client = NewKeys().public_key;
  c.runner_keys = {runner + "=runner-1"};
  c.client_keys = {client};
  auto keys = common::AuthorizedKeys(c);
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  CHECK(keys.value().size() == 2);
  CHECK(keys.value().at(runner) == common::KeyGrant{common::KeyRole::kRunner, "runner-1"});
  const common::KeyGrant& grant = keys.value().at(client);
  CHECK(grant.role == common::KeyRole::kClient);
  CHECK(grant.name.starts_with("key-"));  // named by its first characters
  CHECK(grant.AllTeams());
  CHECK(common::GrantOfUserId(common::UserIdOf(grant)) == grant);
  CHECK(common::UserIdOf(keys.value().at(runner)) == "runner:runner-1");
  CHECK(common::GrantOfUserId("runner:runner-1") == keys.value().at(runner));
  CHECK(common::GrantOfUserId("publisher")->role == common::KeyRole::kPublisher);
  CHECK_FALSE(common::GrantOfUserId("").has_value());
  CHECK_FALSE(common::GrantOfUserId("runner:").has_value());
  CHECK_FALSE(common::GrantOfUserId("root").has_value());
}

TEST_CASE("a named key may be bound to teams, and its User-Id carries both") {
  common::Config c = Secure();
  const std::string alice = NewKeys().public_key;
  const std::string ticker = NewKeys().public_key;
  c.client_keys = {alice + "=alice@1+general"};
  c.publisher_keys = {ticker + "=ticker"};
  auto keys = common::AuthorizedKeys(c);
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  const common::KeyGrant& a = keys.value().at(alice);
  CHECK(a.name == "alice");
  CHECK(a.teams == std::vector<std::uint32_t>{1, 0});
  CHECK(a.MayActFor(1));
  CHECK(a.MayActFor(0));
  CHECK_FALSE(a.MayActFor(2));
  CHECK(common::UserIdOf(a) == "client:alice@1+general");
  CHECK(common::GrantOfUserId("client:alice@1+general") == a);
  CHECK(keys.value().at(ticker).AllTeams());
  CHECK(common::UserIdOf(keys.value().at(ticker)) == "publisher:ticker");
  CHECK_FALSE(common::GrantOfUserId("client:alice@x").has_value());
  CHECK_FALSE(common::GrantOfUserId("client:").has_value());
  for (const std::string bad : {"=", "=al ice", "=alice@", "=alice@1+", "=alice@team1", "=a@b@1", "x"}) {
    CAPTURE(bad);
    c.client_keys = {alice + bad};
    CHECK(ErrorOf(c).find("security.client_keys entry") != std::string::npos);
  }
}

TEST_CASE("a malformed key list entry is refused naming the list and the entry") {
  common::Config c = Secure();
  const std::string key = NewKeys().public_key;
  SUBCASE("a key that is not Z85") {
    c.client_keys = {"not-a-key"};
    CHECK(ErrorOf(c) == "security.client_keys entry \"not-a-key\": the key must be a 40-character "
                        "Z85 CURVE public key (make one with: daybreak keygen)");
  }
  SUBCASE("a runner key without its runner_id") {
    c.runner_keys = {key};
    CHECK(ErrorOf(c).starts_with("security.runner_keys entry \"" + key +
                                 "\": must be \"<40-character Z85 key>=<runner_id>\""));
  }
  SUBCASE("a runner key with an empty runner_id") {
    c.runner_keys = {key + "="};
    CHECK(ErrorOf(c).find("the runner_id after '=' must be non-empty") != std::string::npos);
  }
  SUBCASE("a bad key before the runner_id") {
    c.runner_keys = {std::string(40, ' ') + "=runner-1"};
    CHECK(ErrorOf(c).find("the key must be a 40-character Z85") != std::string::npos);
  }
  SUBCASE("one key with two roles") {
    c.runner_keys = {key + "=runner-1"};
    c.client_keys = {key};
    CHECK(ErrorOf(c) == "security.client_keys entry \"" + key + "\": key " + key +
                            " is already listed in security.runner_keys (a key has one role; give "
                            "each runner and each host its own key)");
  }
  SUBCASE("one key bound to two runners") {
    c.runner_keys = {key + "=runner-1", key + "=runner-2"};
    CHECK(ErrorOf(c).find("is already listed in security.runner_keys (a key has one role and one "
                          "runner_id") != std::string::npos);
  }
  SUBCASE("a deprecated key that is also given a role") {
    c.publisher_keys = {key};
    c.authorized_clients = {key};
    CHECK(ErrorOf(c).find("is already listed in security.publisher_keys") != std::string::npos);
  }
}

TEST_CASE("the key lists load from the file and from the environment") {
  const std::string runner = KeyWithEquals();
  const std::string publisher = NewKeys().public_key;
  const std::string entry = runner + "=runner-1";
  auto env = [&](const char* name) -> const char* {
    static std::string value;
    if (std::string_view(name) == "DAYBREAK_RUNNER_KEYS") return (value = entry + ", ").c_str();
    if (std::string_view(name) == "DAYBREAK_PUBLISHER_KEYS") return publisher.c_str();
    return nullptr;
  };
  auto loaded = common::LoadConfig("", env);
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  CHECK(loaded.value().runner_keys == std::vector<std::string>{entry});
  CHECK(loaded.value().publisher_keys == std::vector<std::string>{publisher});
  loaded.value().curve_enabled = true;
  const KeyPair broker = NewKeys();
  loaded.value().broker_public_key = broker.public_key;
  loaded.value().broker_secret_key = broker.secret_key;
  auto keys = common::AuthorizedKeys(loaded.value());
  REQUIRE(keys.ok());
  CHECK(keys.value().at(runner).runner_id == "runner-1");
}

}  // namespace
}  // namespace broker
