// CURVE security for every Daybreak socket: encryption between hosts and,
// with key lists, which key may do what at the broker. A listed key has one
// role -- runner (bound to one runner_id), publisher or client -- and the
// broker's ZAP handler admits it only on the sockets that role uses
// (docs/security.md has the table).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/config.h"
#include "common/status.h"

namespace common {

// The ZAP domain of each broker socket: how the ZAP handler tells which
// socket a connection is for.
namespace zap_domain {
inline constexpr std::string_view kWork = "work";        // runners
inline constexpr std::string_view kBus = "bus";          // XSUB and XPUB
inline constexpr std::string_view kControl = "control";  // requests
}  // namespace zap_domain

// What a key may do at the broker. kAny is a key of the deprecated
// security.authorized_clients, or any key when no list is set: it may use
// every socket and speak for any runner, as before roles existed.
enum class KeyRole { kRunner, kPublisher, kClient, kAny };

struct KeyGrant {
  KeyRole role = KeyRole::kAny;
  std::string runner_id;  // kRunner only: the one runner the key speaks for
  // Publisher and client keys: who the key is (requested_by and the audit
  // log name it), and the teams it may act for (empty: every team).
  std::string name = "";
  std::vector<std::uint32_t> teams = {};
  bool operator==(const KeyGrant&) const = default;

  // Whether the key may start, cancel or change runs and settings of `team`.
  bool MayActFor(std::uint32_t team) const;
  bool AllTeams() const { return teams.empty(); }
};

// The ZAP User-Id a grant is announced with on every message its
// connection delivers: "runner:<id>", "publisher", "client" or "any", and
// for a named key "publisher:<name>" or "client:<name>", with "@1+2" when
// it may act only for teams 1 and 2 (0: the general run).
std::string UserIdOf(const KeyGrant& grant);
// The grant a User-Id names; nullopt for anything UserIdOf does not make.
std::optional<KeyGrant> GrantOfUserId(std::string_view user_id);
// "runner", "publisher", "client", "any".
std::string_view RoleName(KeyRole role);

// The keys the broker admits, by Z85 public key: security.runner_keys
// ("<key>=<runner_id>"), security.publisher_keys and security.client_keys
// ("<key>", "<key>=<name>" or "<key>=<name>@<team>+<team>...", a team being
// an id or "general"; a key without a name is named by its first 8
// characters), and security.authorized_clients (kAny). Empty when every list is: then
// any key holding the broker's public key may connect, as kAny. An error
// names the list and the entry: a key that is not Z85, a runner key
// without its runner_id, a key listed twice.
Result<std::map<std::string, KeyGrant>> AuthorizedKeys(const Config& config);

// A bearer token of the broker's HTTP API: who it is (requested_by and the
// audit log name it), whether it may act or only read, and for which teams.
struct HttpGrant {
  std::string name;
  std::string token;
  bool operate = false;
  std::vector<std::uint32_t> teams = {};  // empty: every team
  bool MayActFor(std::uint32_t team) const;
};
// The HTTP API's tokens: broker.http_operator_token (named "operator", every
// team), broker.http_read_token ("reader"), and each broker.http_tokens
// entry "<name>:<read|operate>[@<team>+<team>]=<token file>", whose token
// is the file's content (up to a final newline), at least 16 characters.
// An error names the entry and the problem, never a token: bad syntax, a
// file that cannot be read, a name or a token used twice.
Result<std::vector<HttpGrant>> HttpGrants(const Config& config);

// Checks the [security] keys: Z85 keys of 40 characters, and the ones each
// role needs (`broker` needs its key pair and well-formed key lists;
// clients need the broker's public key and their own pair).
Status ValidateSecurity(const Config& config, bool broker);

// Makes `socket` a CURVE server with the broker's key pair (before bind),
// whose connections the ZAP handler is asked about under `domain` (one of
// zap_domain). Does nothing when security is off.
void ApplyServerSecurity(zmq::socket_t& socket, const Config& config, std::string_view domain);

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
