// Small ZeroMQ helpers shared by every process.
#pragma once

#include <vector>

#include <zmq.hpp>

namespace common {

// Reads all parts of one multipart message without blocking (empty when
// nothing is waiting).
inline std::vector<zmq::message_t> ReceiveMultipart(zmq::socket_t& socket) {
  std::vector<zmq::message_t> parts;
  while (true) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    const bool more = part.more();
    parts.push_back(std::move(part));
    if (!more) break;
  }
  return parts;
}

}  // namespace common
