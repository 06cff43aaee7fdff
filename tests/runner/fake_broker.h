// FakeBroker: a ROUTER on inproc:// playing the broker for one runner: it
// hands out the runner's socket factory, reads what the runner sends and
// answers with broker messages.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <doctest/doctest.h>
#include <zmq.hpp>

#include "runner/runner.h"
#include "schemas/codec.h"

namespace testing {

class FakeBroker {
 public:
  // `context` must outlive the broker and every socket its factory makes.
  explicit FakeBroker(zmq::context_t& context)
      : context_(context), router_(context, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    // A reconnecting runner keeps its routing id; let the new pipe win
    // even if the old one is not gone yet.
    router_.set(zmq::sockopt::router_handover, 1);
    router_.bind(kEndpoint);
  }

  // Makes DEALERs with routing id `runner_id`, counting them in connects().
  runner::Runner::SocketFactory Factory(const std::string& runner_id) {
    return [this, runner_id] {
      ++connects_;
      auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
      socket->set(zmq::sockopt::linger, 0);
      socket->set(zmq::sockopt::routing_id, runner_id);
      socket->connect(kEndpoint);
      return socket;
    };
  }
  int connects() const { return connects_; }

  // The next message from the runner within `wait`, or nullopt.
  std::optional<schemas::RunnerMessage> Receive(std::chrono::milliseconds wait) {
    zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, wait) == 0) return std::nullopt;
    zmq::message_t id, payload;
    (void)router_.recv(id);
    REQUIRE(id.more());
    (void)router_.recv(payload);
    peer_ = id.to_string();  // Send answers whoever spoke last
    auto m = schemas::DecodeRunnerMessage(payload.to_string_view());
    REQUIRE_MESSAGE(m.ok(), m.status().message());
    return m.value();
  }

  // REQUIRES: Receive returned a message (so the peer is known).
  void Send(const schemas::BrokerMessage& m) { SendRaw(schemas::Encode(m)); }
  // Any bytes, as one frame (or two, with `second`), for malformed input.
  void SendRaw(const std::string& frame, std::optional<std::string> second = std::nullopt) {
    router_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(frame), second ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (second) router_.send(zmq::buffer(*second), zmq::send_flags::none);
  }

 private:
  static constexpr const char* kEndpoint = "inproc://fake-broker";
  zmq::context_t& context_;
  zmq::socket_t router_;
  std::string peer_;
  int connects_ = 0;
};

}  // namespace testing
