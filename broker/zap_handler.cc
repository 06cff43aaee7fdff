#include "broker/zap_handler.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include "common/zmq_util.h"
#include "schemas/topics.h"
#include "schemas/vocabulary.h"

namespace broker {

using common::KeyRole;
namespace zap_domain = common::zap_domain;

bool KeyFitsSocket(KeyRole role, std::string_view domain) {
  if (role == KeyRole::kAny) return true;  // as before roles existed
  if (domain == zap_domain::kWork) return role == KeyRole::kRunner;
  if (domain == zap_domain::kBus || domain == zap_domain::kControl) {
    return role == KeyRole::kPublisher || role == KeyRole::kClient;
  }
  return false;
}

bool PublisherMayAsk(std::string_view op) {
  namespace op_name = schemas::op;
  for (std::string_view allowed : {op_name::kPing, op_name::kStats, op_name::kRunsList,
                                   op_name::kRunGet, op_name::kTeamsList, op_name::kEventsSince,
                                   op_name::kTrigger,
                                   // The notifier's own: it records its give-ups with it.
                                   op_name::kNotificationsSync}) {
    if (op == allowed) return true;
  }
  return false;
}

bool KeyMaySubscribe(const common::KeyGrant& grant, std::string_view topic) {
  return grant.AllTeams() || topic.starts_with(schemas::topic::kDueAck);
}

namespace {

// Why `role` may not connect to `domain`, for the log line.
std::string Misfit(KeyRole role, std::string_view domain) {
  const std::string who = "a " + std::string(common::RoleName(role)) + " key";
  if (domain == zap_domain::kWork) return who + " may not act as a runner (work socket: runner keys only)";
  if (domain == zap_domain::kBus || domain == zap_domain::kControl) {
    return who + " may not use the " + std::string(domain) +
           " socket (runner keys are for the work socket only)";
  }
  return "unknown ZAP domain \"" + std::string(domain) + "\"";
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, std::map<std::string, common::KeyGrant> keys)
    : socket_(context, zmq::socket_type::rep), keys_(std::move(keys)), allow_any_(keys_.empty()) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::SetKeys(std::map<std::string, common::KeyGrant> keys) {
  allow_any_ = keys.empty();
  keys_ = std::move(keys);
  for (const auto& [key, grant] : own_) keys_[key] = grant;
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
    const std::string key = z85;
    const std::string domain = request[2].to_string();
    const std::string address = request[3].to_string();
    auto known = keys_.find(key);
    if (known == keys_.end() && !allow_any_) {
      text = "client key not authorized";
    } else {
      const common::KeyGrant grant = known != keys_.end() ? known->second : common::KeyGrant{};
      if (KeyFitsSocket(grant.role, domain)) {
        status = "200";
        text = "OK";
        user = common::UserIdOf(grant);
      } else {
        text = Misfit(grant.role, domain);
      }
    }
    if (status != "200") {
      ++refused_;
      spdlog::warn("refused a CURVE connection from {} with key {} on the {} socket: {}", address,
                   key, domain, text);
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
