// CURVE between every component: runs work with keys; without the right
// key nobody gets an answer.
#include <doctest/doctest.h>

#include <fstream>

#include "common/security.h"
#include "schemas/codec.h"
#include "tests/support/cluster.h"

TEST_CASE("with CURVE on, runs work end to end and unknown or missing keys get nothing") {
  const auto broker = common::NewKeyPair().value();
  const auto client = common::NewKeyPair().value();
  const auto stranger = common::NewKeyPair().value();
  testing::Cluster cluster({.runners = 1, .ticker = true, .notifier = true,
                            .env = {{"DAYBREAK_CURVE_ENABLED", "true"},
                                    {"DAYBREAK_BROKER_PUBLIC_KEY", broker.public_key},
                                    {"DAYBREAK_BROKER_SECRET_KEY", broker.secret_key},
                                    {"DAYBREAK_CLIENT_PUBLIC_KEY", client.public_key},
                                    {"DAYBREAK_CLIENT_SECRET_KEY", client.secret_key},
                                    {"DAYBREAK_AUTHORIZED_CLIENTS", client.public_key}}});
  cluster.MakeSample(0, 20, "2025-06-02");
  testing::BusWatcher bus(cluster, {"run."});
  const auto run = cluster.Trigger(0);
  auto done = bus.WaitForRunEvent([&](const auto& e) { return e.run.run_id == run.run_id && e.event == "completed"; });
  REQUIRE(done.has_value());
  CHECK(done->run.total_loans == 20);

  auto ask = [&](const std::function<void(zmq::socket_t&)>& setup) {
    schemas::ControlClient control(cluster.context(), cluster.endpoint("control"), setup);
    schemas::ControlRequest ping;
    ping.op = "ping";
    return control.Call(ping, std::chrono::milliseconds(1500));
  };
  SUBCASE("a client without keys is not answered") {
    CHECK_FALSE(ask({}).ok());
  }
  SUBCASE("a client with a key not on the list is refused") {
    common::Config other;
    other.curve_enabled = true;
    other.broker_public_key = broker.public_key;
    other.client_public_key = stranger.public_key;
    other.client_secret_key = stranger.secret_key;
    CHECK_FALSE(ask([&](zmq::socket_t& s) { common::ApplyClientSecurity(s, other); }).ok());
  }
  SUBCASE("the listed key is answered") {
    CHECK(ask([&](zmq::socket_t& s) { cluster.Secure(s); }).ok());
  }
}

TEST_CASE("a bad CURVE key in the configuration stops a process with the key named") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  const std::string config = cluster.root() + "/bad-security.toml";
  std::ofstream(config) << "[security]\ncurve_enabled = true\nbroker_public_key = \"not-a-key\"\n";
  std::string out;
  CHECK(cluster.RunTool({"daybreak-runner", "--id", "x", "--config", config}, &out) == 2);
  CHECK(out.find("security.broker_public_key must be a 40-character Z85 CURVE key") != std::string::npos);
}
