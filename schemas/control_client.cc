#include "schemas/control_client.h"

#include "schemas/codec.h"
#include "schemas/topics.h"

namespace schemas {

using common::Code;
using common::Status;

ControlClient::ControlClient(zmq::context_t& context, std::string endpoint, SocketSetup setup)
    : context_(context), endpoint_(std::move(endpoint)), setup_(std::move(setup)) {
  Reconnect();
}

void ControlClient::Reconnect() {
  // A fresh socket drops any late reply to a request we gave up on.
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::maxmsgsize,
               static_cast<std::int64_t>(kMaxControlFrameBytes));
  if (setup_) setup_(*socket_);
  socket_->connect(endpoint_);
}

common::Result<ControlReply> ControlClient::Call(
    const ControlRequest& request, std::chrono::milliseconds timeout) {
  try {
    // The empty delimiter makes our DEALER look like a REQ to the broker.
    const std::string payload = Encode(request);
    socket_->send(zmq::message_t(), zmq::send_flags::sndmore);
    socket_->send(zmq::buffer(payload), zmq::send_flags::none);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
      if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0) {
        Reconnect();
        return Status::Error(Code::kIoError, "no reply from the broker at " +
                                                 endpoint_ + " within " +
                                                 std::to_string(timeout.count()) + " ms");
      }
      zmq::message_t frame;
      std::string last;
      do {
        if (!socket_->recv(frame, zmq::recv_flags::none)) break;
        last = frame.to_string();
      } while (frame.more());
      auto reply = DecodeControlReply(last);
      if (!reply.ok()) return reply.status();
      if (!reply.value().ok) {
        return Status::Error(common::CodeFromId(reply.value().code), reply.value().error);
      }
      return reply;
    }
  } catch (const zmq::error_t& e) {
    Reconnect();
    return Status::Error(Code::kIoError, e.what());
  }
}

}  // namespace schemas
