// Listeners: the sockets the broker binds -- the bus's XSUB (publishers
// connect) and XPUB (subscribers connect), and the control and work
// ROUTERs -- with CURVE from the configuration, each socket under its own
// ZAP domain (common::zap_domain) so the ZAP handler, which must exist
// before they take connections, admits only the roles that socket serves.
// With CURVE on it also makes the dashboard a key pair of its own and
// authorizes it as a publisher (it only reads the control socket).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "broker/broker.h"
#include "broker/zap_handler.h"
#include "common/config.h"
#include "common/status.h"

namespace broker {

class Listeners {
 public:
  // Binds every endpoint of `config` in `context`, which must outlive the
  // result. A failure (an endpoint in use, no key pair) says which.
  static common::Result<std::unique_ptr<Listeners>> Open(zmq::context_t& context,
                                                         const common::Config& config);
  Listeners(const Listeners&) = delete;
  Listeners& operator=(const Listeners&) = delete;

  BrokerSockets sockets();
  // Where a local client reaches the control socket ("tcp://*:7403" is
  // bound on every interface and reached on loopback).
  const std::string& local_control() const { return local_control_; }
  // Security for the dashboard's own control client.
  std::function<void(zmq::socket_t&)> LocalClientSetup() const;

 private:
  Listeners() = default;

  std::unique_ptr<ZapHandler> zap_;  // declared first: it outlives the sockets
  common::Config local_client_;
  std::string local_control_;
  zmq::socket_t bus_in_;
  zmq::socket_t bus_out_;
  zmq::socket_t control_;
  zmq::socket_t work_;
};

// `endpoint` with a wildcard host ("//*:", "//0.0.0.0:") made loopback.
std::string LocalAddressOf(std::string endpoint);

}  // namespace broker
