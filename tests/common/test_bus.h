// Bus helpers for unit tests on inproc:// PUB/SUB pairs: wait until a
// subscription has reached its publisher (PUB drops frames sent before),
// and receive a frame with a deadline instead of sleeping.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <zmq.hpp>

#include "common/zmq_util.h"

namespace testing {

struct Frame {
  std::string topic;
  std::string payload;
};

// The next [topic, payload] frame on `sub` within `deadline`, or none.
inline std::optional<Frame> ReceiveFrame(zmq::socket_t& sub, std::chrono::milliseconds deadline) {
  zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, deadline) == 0) return std::nullopt;
  auto parts = common::ReceiveMultipart(sub);
  if (parts.size() != 2) return std::nullopt;
  return Frame{parts[0].to_string(), parts[1].to_string()};
}

inline void Send(zmq::socket_t& pub, const std::string& topic, const std::string& payload) {
  pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(payload), zmq::send_flags::none);
}

// Publishes probes on `topic` until one arrives on `sub` (which must be
// subscribed to it), then drains `sub`. False when none came in 5 s.
inline bool WaitConnected(zmq::socket_t& pub, zmq::socket_t& sub, const std::string& topic) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    Send(pub, topic, "probe");
    if (ReceiveFrame(sub, std::chrono::milliseconds(10))) {
      while (ReceiveFrame(sub, std::chrono::milliseconds(10))) {
      }
      return true;
    }
  }
  return false;
}

}  // namespace testing
