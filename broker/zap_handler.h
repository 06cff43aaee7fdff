// ZapHandler: answers ZeroMQ's authentication requests (ZAP, RFC 27) for
// the broker's CURVE sockets: a client whose public key is on the list may
// connect; with an empty list any client holding the broker's public key may.
#pragma once

#include <set>
#include <string>

#include <zmq.hpp>

namespace broker {

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context`, which must outlive it. Must be
  // created before the sockets it guards accept connections.
  ZapHandler(zmq::context_t& context, std::set<std::string> authorized_z85);
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void Authorize(const std::string& public_key_z85) { authorized_.insert(public_key_z85); }
  zmq::socket_t& socket() { return socket_; }
  // Answers one pending request (call when the socket is readable).
  void HandleRequest();

 private:
  zmq::socket_t socket_;
  std::set<std::string> authorized_;
  bool allow_any_;
};

}  // namespace broker
