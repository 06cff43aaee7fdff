#include "broker/listeners.h"

#include <spdlog/spdlog.h>

#include "common/security.h"
#include "schemas/topics.h"

namespace broker {
namespace {

zmq::socket_t Bind(zmq::context_t& context, zmq::socket_type type, const std::string& endpoint,
                   const common::Config& config, std::string_view domain) {
  zmq::socket_t socket(context, type);
  common::ApplyServerSecurity(socket, config, domain);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
  socket.set(zmq::sockopt::sndhwm, 100000);
  socket.set(zmq::sockopt::rcvhwm, 100000);
  // Subscriptions are the broker's to apply (Broker::HandleSubscriptions),
  // from the first connection on.
  if (type == zmq::socket_type::xpub) socket.set(zmq::sockopt::xpub_manual, 1);
  socket.bind(endpoint);
  return socket;
}

}  // namespace

std::string LocalAddressOf(std::string endpoint) {
  for (const std::string any : {"//*:", "//0.0.0.0:"}) {
    if (auto at = endpoint.find(any); at != std::string::npos) {
      endpoint.replace(at, any.size(), "//127.0.0.1:");
    }
  }
  return endpoint;
}

common::Result<std::unique_ptr<Listeners>> Listeners::Open(zmq::context_t& context,
                                                            const common::Config& c) {
  std::unique_ptr<Listeners> l(new Listeners());
  l->local_client_ = c;
  l->local_control_ = LocalAddressOf(c.control);
  const std::string* binding = nullptr;
  try {
    if (c.curve_enabled) {
      auto keys = common::AuthorizedKeys(c);
      if (!keys.ok()) return keys.status();
      if (!c.authorized_clients.empty()) {
        // Still honoured, so no deployment breaks on upgrade; but those keys
        // may use every socket and speak for any runner.
        spdlog::warn(
            "security.authorized_clients is deprecated: its {} key(s) keep every role (any "
            "socket, any runner_id); list them in security.runner_keys (\"<key>=<runner_id>\"), "
            "publisher_keys or client_keys instead (docs/security.md)",
            c.authorized_clients.size());
      }
      l->zap_ = std::make_unique<ZapHandler>(context, std::move(keys).value());
      auto own = common::NewKeyPair();
      if (!own.ok()) return own.status();
      l->local_client_.client_public_key = own.value().public_key;
      l->local_client_.client_secret_key = own.value().secret_key;
      // The dashboard's control client only reads: a publisher's rights.
      l->zap_->Authorize(own.value().public_key, {common::KeyRole::kPublisher, ""});
    }
    binding = &c.bus_publish;
    l->bus_in_ = Bind(context, zmq::socket_type::xsub, c.bus_publish, c, common::zap_domain::kBus);
    binding = &c.bus_subscribe;
    l->bus_out_ = Bind(context, zmq::socket_type::xpub, c.bus_subscribe, c, common::zap_domain::kBus);
    binding = &c.control;
    l->control_ = Bind(context, zmq::socket_type::router, c.control, c, common::zap_domain::kControl);
    binding = &c.work;
    l->work_ = Bind(context, zmq::socket_type::router, c.work, c, common::zap_domain::kWork);
  } catch (const zmq::error_t& e) {
    return common::Status::Error(
        common::Code::kIoError,
        binding == nullptr ? std::string("cannot start CURVE authentication: ") + e.what()
                           : "cannot bind " + *binding + ": " + e.what());
  }
  return l;
}

BrokerSockets Listeners::sockets() { return {&bus_in_, &bus_out_, &control_, &work_, zap_.get()}; }

std::function<void(zmq::socket_t&)> Listeners::LocalClientSetup() const {
  return [this](zmq::socket_t& s) { common::ApplyClientSecurity(s, local_client_); };
}

}  // namespace broker
