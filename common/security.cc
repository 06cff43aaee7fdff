#include "common/security.h"

#include <zmq.h>

#include <array>

namespace common {

namespace {

bool IsZ85Key(const std::string& key) {
  std::array<std::uint8_t, 32> raw{};
  return key.size() == 40 && zmq_z85_decode(raw.data(), key.c_str()) != nullptr;
}

Status NeedKey(const std::string& name, const std::string& value) {
  if (!IsZ85Key(value)) {
    return Status::Error(Code::kInvalid,
                         "security." + name + " must be a 40-character Z85 CURVE key " +
                             "(make one with: daybreak keygen)");
  }
  return Status();
}

}  // namespace

Status ValidateSecurity(const Config& c, bool broker) {
  if (!c.curve_enabled) return Status();
  if (Status s = NeedKey("broker_public_key", c.broker_public_key); !s.ok()) return s;
  if (broker) {
    if (Status s = NeedKey("broker_secret_key", c.broker_secret_key); !s.ok()) return s;
    for (const std::string& key : c.authorized_clients) {
      if (Status s = NeedKey("authorized_clients entry", key); !s.ok()) return s;
    }
    return Status();
  }
  if (Status s = NeedKey("client_public_key", c.client_public_key); !s.ok()) return s;
  return NeedKey("client_secret_key", c.client_secret_key);
}

void ApplyServerSecurity(zmq::socket_t& socket, const Config& c) {
  if (!c.curve_enabled) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, c.broker_secret_key);
  // Ask the ZAP handler (the broker's key list) about every connection.
  socket.set(zmq::sockopt::zap_domain, std::string("daybreak"));
}

void ApplyClientSecurity(zmq::socket_t& socket, const Config& c) {
  if (!c.curve_enabled) return;
  socket.set(zmq::sockopt::curve_serverkey, c.broker_public_key);
  socket.set(zmq::sockopt::curve_publickey, c.client_public_key);
  socket.set(zmq::sockopt::curve_secretkey, c.client_secret_key);
}

Result<KeyPair> NewKeyPair() {
  char public_key[41] = {};
  char secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return Status::Error(Code::kIoError, "this libzmq has no CURVE support");
  }
  return KeyPair{public_key, secret_key};
}

}  // namespace common
