// CURVE security for every Daybreak socket: encryption between hosts, and
// (with authorized_clients) only known keys may connect to the broker.
#pragma once

#include <string>

#include <zmq.hpp>

#include "common/config.h"
#include "common/status.h"

namespace common {

// Checks the [security] keys: Z85 keys of 40 characters, and the ones each
// role needs (`broker` needs its key pair; clients need the broker's public
// key and their own pair).
Status ValidateSecurity(const Config& config, bool broker);

// Makes `socket` a CURVE server with the broker's key pair (before bind).
// Does nothing when security is off.
void ApplyServerSecurity(zmq::socket_t& socket, const Config& config);

// Makes `socket` a CURVE client of the broker (before connect). Does
// nothing when security is off.
void ApplyClientSecurity(zmq::socket_t& socket, const Config& config);

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;
};
// A new random key pair (zmq_curve_keypair).
Result<KeyPair> NewKeyPair();

}  // namespace common
