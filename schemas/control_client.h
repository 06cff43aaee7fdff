// ControlClient: one request, one reply on the broker's control socket, with
// a deadline. Used by the CLI, the ticker and the notifier.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/status.h"
#include "schemas/messages.h"

namespace schemas {

class ControlClient {
 public:
  // Prepares each new socket before it connects (e.g. CURVE keys).
  using SocketSetup = std::function<void(zmq::socket_t&)>;
  // `context` must outlive the client.
  ControlClient(zmq::context_t& context, std::string endpoint, SocketSetup setup = {});
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Sends `request` and waits up to `timeout` for the reply. A reply with
  // ok=false comes back as an error carrying the broker's reason.
  common::Result<ControlReply> Call(const ControlRequest& request,
                                    std::chrono::milliseconds timeout);

 private:
  void Reconnect();

  zmq::context_t& context_;
  std::string endpoint_;
  SocketSetup setup_;
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace schemas
