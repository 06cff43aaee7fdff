// ControlClient: one request, one reply on the broker's control socket, with
// a deadline. Used by the CLI, the ticker and the notifier.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/status.h"
#include "schemas/messages.h"

namespace schemas {

class ControlClient {
 public:
  // `context` must outlive the client.
  ControlClient(zmq::context_t& context, std::string endpoint);
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
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace schemas
