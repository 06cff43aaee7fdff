// FakeControlServer: the broker's control socket for unit tests, on an
// inproc:// ROUTER served by its own thread (ControlClient::Call blocks
// until it is answered). Replies come from a handler the test sets; every
// request is counted by op. Header-only; the ticker and notifier tests
// share it (its home is tests/support once that folder may take it).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "schemas/codec.h"
#include "schemas/messages.h"

namespace testing {

class FakeControlServer {
 public:
  using Handler = std::function<schemas::ControlReply(const schemas::ControlRequest&)>;

  // Binds `endpoint` in `context`, which must outlive the server.
  FakeControlServer(zmq::context_t& context, std::string endpoint)
      : socket_(context, zmq::socket_type::router), endpoint_(std::move(endpoint)) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind(endpoint_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeControlServer() {
    stop_.store(true);
    thread_.join();
  }
  FakeControlServer(const FakeControlServer&) = delete;
  FakeControlServer& operator=(const FakeControlServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  // Called on the server's thread, under the server's lock.
  void set_handler(Handler handler) {
    std::lock_guard lock(mu_);
    handler_ = std::move(handler);
  }
  int calls(const std::string& op) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }

  static schemas::ControlReply Ok() {
    schemas::ControlReply reply;
    reply.ok = true;
    return reply;
  }
  static schemas::ControlReply Refuse(std::string error) {
    schemas::ControlReply reply;
    reply.ok = false;
    reply.code = "io_error";
    reply.error = std::move(error);
    return reply;
  }

 private:
  void Serve() {
    while (!stop_.load()) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(20)) == 0) continue;  // re-check stop_
      zmq::message_t id, empty, body;
      if (!socket_.recv(id) || !socket_.recv(empty) || !socket_.recv(body)) continue;
      auto request = schemas::DecodeControlRequest(body.to_string_view());
      schemas::ControlReply reply = Refuse("undecodable request");
      if (request.ok()) {
        std::lock_guard lock(mu_);
        ++calls_[request.value().op];
        reply = handler_ ? handler_(request.value()) : Refuse("no handler");
      }
      socket_.send(id, zmq::send_flags::sndmore);
      socket_.send(zmq::message_t(), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(schemas::Encode(reply)), zmq::send_flags::none);
    }
  }

  zmq::socket_t socket_;
  std::string endpoint_;
  mutable std::mutex mu_;
  Handler handler_;
  std::map<std::string, int> calls_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace testing
