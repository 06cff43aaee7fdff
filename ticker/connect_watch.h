// ConnectWatch: says when a socket's connection has (re)opened. A SUB's
// subscriptions reach the broker only after that, and a notice published
// before it is lost to the subscriber (ZeroMQ's slow joiner), so the
// ticker reads the schedule again after each new connection.
#pragma once

#include <zmq.hpp>

#include <string>
#include <utility>

namespace ticker {

class ConnectWatch : public zmq::monitor_t {
 public:
  // Watches `socket` (which must outlive the watch) through an inproc pair
  // at `address`, unique in the socket's context.
  ConnectWatch(zmq::socket_t& socket, const std::string& address) {
    init(socket, address, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  }
  // Whether a connection opened since the last call (reads what is waiting).
  bool Opened() {
    while (check_event(0)) {
    }
    return std::exchange(opened_, false);
  }

 private:
  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override { opened_ = true; }
  bool opened_ = false;
};

}  // namespace ticker
