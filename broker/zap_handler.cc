#include "broker/zap_handler.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include "common/zmq_util.h"

namespace broker {

ZapHandler::ZapHandler(zmq::context_t& context, std::set<std::string> authorized_z85)
    : socket_(context, zmq::socket_type::rep),
      authorized_(std::move(authorized_z85)),
      allow_any_(authorized_.empty()) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::HandleRequest() {
  std::vector<zmq::message_t> request = common::ReceiveMultipart(socket_);
  if (request.empty()) return;
  // [version, request id, domain, address, identity, mechanism, credentials...]
  std::string status = "400";
  std::string text = "malformed ZAP request";
  std::string user;
  if (request.size() >= 7 && request[0].to_string() == "1.0" &&
      request[5].to_string() == "CURVE" && request[6].size() == 32) {
    char z85[41] = {};
    zmq_z85_encode(z85, static_cast<const std::uint8_t*>(request[6].data()), 32);
    user = z85;
    if (allow_any_ || authorized_.count(user) != 0) {
      status = "200";
      text = "OK";
    } else {
      text = "client key not authorized";
      spdlog::warn("refused a CURVE connection from {} with key {}", request[3].to_string(), user);
    }
  }
  const std::string id = request.size() > 1 ? request[1].to_string() : "";
  socket_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(id), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(user), zmq::send_flags::sndmore);
  socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
}

}  // namespace broker
