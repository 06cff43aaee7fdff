#include "common/security.h"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/team.h"

namespace common {

namespace {

constexpr std::size_t kZ85KeySize = 40;
constexpr std::string_view kRunnerPrefix = "runner:";

bool IsZ85Key(std::string_view key) {
  std::array<std::uint8_t, 32> raw{};
  const std::string text(key);
  return key.size() == kZ85KeySize && zmq_z85_decode(raw.data(), text.c_str()) != nullptr;
}

Status NeedKey(const std::string& name, const std::string& value) {
  if (!IsZ85Key(value)) {
    return Status::Error(Code::kInvalid,
                         "security." + name + " must be a 40-character Z85 CURVE key " +
                             "(make one with: daybreak keygen)");
  }
  return Status();
}

// A runner id as the runner sends it: printable, no spaces or commas (the
// environment's list separators), so "<key>=<id>" reads one way only.
bool IsRunnerId(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (static_cast<unsigned char>(c) <= ' ' || c == ',' || c == 0x7f) return false;
  }
  return true;
}

// An entry shown in an error: the key is public, but cut long junk short.
std::string Shown(const std::string& entry) {
  return "\"" + (entry.size() > 60 ? entry.substr(0, 60) + "..." : entry) + "\"";
}

}  // namespace

std::string_view RoleName(KeyRole role) {
  switch (role) {
    case KeyRole::kRunner: return "runner";
    case KeyRole::kPublisher: return "publisher";
    case KeyRole::kClient: return "client";
    case KeyRole::kAny: return "any";
  }
  return "any";
}

bool KeyGrant::MayActFor(std::uint32_t team) const {
  return teams.empty() || std::find(teams.begin(), teams.end(), team) != teams.end();
}

namespace {

// A key's name: what requested_by and the audit log say. Printable, and
// none of the characters the User-Id and the entry use as separators.
bool IsKeyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (static_cast<unsigned char>(c) <= ' ' || c == ',' || c == '@' || c == '+' || c == ':' ||
        c == 0x7f) {
      return false;
    }
  }
  return true;
}

// "1+2+general" -> {1, 2, 0}; nullopt for anything else.
std::optional<std::vector<std::uint32_t>> ParseTeams(std::string_view text) {
  std::vector<std::uint32_t> teams;
  while (true) {
    const std::size_t plus = text.find('+');
    const std::string part(text.substr(0, plus));
    if (part == "general") {
      teams.push_back(kGeneralTeam);
    } else {
      auto id = ParseTeamId(part);
      if (!id.ok()) return std::nullopt;
      teams.push_back(id.value());
    }
    if (plus == std::string_view::npos) break;
    text = text.substr(plus + 1);
  }
  return teams;
}

std::string TeamsText(const std::vector<std::uint32_t>& teams) {
  std::string out;
  for (std::uint32_t t : teams) {
    out += (out.empty() ? "" : "+") + (t == kGeneralTeam ? std::string("general") : std::to_string(t));
  }
  return out;
}

}  // namespace

std::string UserIdOf(const KeyGrant& grant) {
  if (grant.role == KeyRole::kRunner) return std::string(kRunnerPrefix) + grant.runner_id;
  std::string id(RoleName(grant.role));
  if (grant.name.empty()) return id;
  id += ":" + grant.name;
  if (!grant.teams.empty()) id += "@" + TeamsText(grant.teams);
  return id;
}

std::optional<KeyGrant> GrantOfUserId(std::string_view user_id) {
  if (user_id.starts_with(kRunnerPrefix)) {
    const std::string_view id = user_id.substr(kRunnerPrefix.size());
    if (!IsRunnerId(id)) return std::nullopt;
    return KeyGrant{KeyRole::kRunner, std::string(id)};
  }
  const std::string_view role_text = user_id.substr(0, user_id.find(':'));
  for (KeyRole role : {KeyRole::kPublisher, KeyRole::kClient, KeyRole::kAny}) {
    if (role_text != RoleName(role)) continue;
    KeyGrant grant{role, ""};
    if (role_text.size() == user_id.size()) return grant;
    std::string_view rest = user_id.substr(role_text.size() + 1);
    const std::size_t at = rest.find('@');
    grant.name = std::string(rest.substr(0, at));
    if (!IsKeyName(grant.name)) return std::nullopt;
    if (at != std::string_view::npos) {
      auto teams = ParseTeams(rest.substr(at + 1));
      if (!teams) return std::nullopt;
      grant.teams = *teams;
    }
    return grant;
  }
  return std::nullopt;
}

Result<std::map<std::string, KeyGrant>> AuthorizedKeys(const Config& c) {
  std::map<std::string, KeyGrant> keys;
  std::map<std::string, std::string> listed_in;  // key -> the list it came from
  auto add = [&](const std::string& list, const std::string& entry, const std::string& key,
                 KeyGrant grant) -> Status {
    if (!IsZ85Key(key)) {
      return Status::Error(Code::kInvalid, "security." + list + " entry " + Shown(entry) +
                                               ": the key must be a 40-character Z85 CURVE "
                                               "public key (make one with: daybreak keygen)");
    }
    if (auto [at, fresh] = listed_in.emplace(key, list); !fresh) {
      // One key, one role: a key in two places would be whichever won.
      return Status::Error(Code::kInvalid,
                           "security." + list + " entry " + Shown(entry) + ": key " + key +
                               " is already listed in security." + at->second +
                               " (a key has one role" +
                               (grant.role == KeyRole::kRunner ? " and one runner_id" : "") +
                               "; give each runner and each host its own key)");
    }
    keys.emplace(key, std::move(grant));
    return Status();
  };
  for (const std::string& entry : c.runner_keys) {
    // The Z85 alphabet has '=', so the id starts after the key's 40 characters.
    if (entry.size() <= kZ85KeySize || entry[kZ85KeySize] != '=') {
      return Status::Error(Code::kInvalid,
                           "security.runner_keys entry " + Shown(entry) +
                               ": must be \"<40-character Z85 key>=<runner_id>\" (a runner key "
                               "is bound to the one runner it speaks for)");
    }
    const std::string id = entry.substr(kZ85KeySize + 1);
    if (!IsRunnerId(id)) {
      return Status::Error(Code::kInvalid, "security.runner_keys entry " + Shown(entry) +
                                               ": the runner_id after '=' must be non-empty, "
                                               "without spaces, commas or control characters");
    }
    if (Status s = add("runner_keys", entry, entry.substr(0, kZ85KeySize), {KeyRole::kRunner, id});
        !s.ok()) {
      return s;
    }
  }
  const std::vector<std::pair<std::string, const std::vector<std::string>*>> plain = {
      {"publisher_keys", &c.publisher_keys},
      {"client_keys", &c.client_keys},
      {"authorized_clients", &c.authorized_clients}};
  for (const auto& [list, entries] : plain) {
    const KeyRole role = list == "publisher_keys" ? KeyRole::kPublisher
                         : list == "client_keys"  ? KeyRole::kClient
                                                  : KeyRole::kAny;
    for (const std::string& entry : *entries) {
      KeyGrant grant{role, ""};
      const std::string key = entry.substr(0, kZ85KeySize);
      if (entry.size() > kZ85KeySize && role != KeyRole::kAny) {
        // "<key>=<name>[@<teams>]": who the key is, and what it may act for.
        const std::string rest = entry.size() > kZ85KeySize + 1 ? entry.substr(kZ85KeySize + 1) : "";
        const std::size_t at = rest.find('@');
        grant.name = rest.substr(0, at);
        std::optional<std::vector<std::uint32_t>> teams;
        if (at != std::string::npos) teams = ParseTeams(std::string_view(rest).substr(at + 1));
        if (entry[kZ85KeySize] != '=' || !IsKeyName(grant.name) ||
            (at != std::string::npos && !teams)) {
          return Status::Error(Code::kInvalid,
                               "security." + list + " entry " + Shown(entry) +
                                   ": must be \"<40-character Z85 key>\", \"<key>=<name>\" or "
                                   "\"<key>=<name>@<team>+<team>\" (a name without spaces, "
                                   "commas, '@', '+' or ':'; teams as ids or \"general\")");
        }
        if (teams) grant.teams = *teams;
      } else if (role != KeyRole::kAny) {
        // Who it is, in requested_by and the audit log: its first 8
        // characters, minus those Z85 shares with the separators.
        grant.name = "key-" + key.substr(0, 8);
        for (char& c : grant.name) {
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
        }
      }
      if (Status s = add(list, entry, role == KeyRole::kAny ? entry : key, grant); !s.ok()) {
        return s;
      }
    }
  }
  return keys;
}

bool HttpGrant::MayActFor(std::uint32_t team) const {
  return teams.empty() || std::find(teams.begin(), teams.end(), team) != teams.end();
}

Result<std::vector<HttpGrant>> HttpGrants(const Config& c) {
  std::vector<HttpGrant> grants;
  if (!c.http_operator_token.empty()) grants.push_back({"operator", c.http_operator_token, true});
  if (!c.http_read_token.empty()) grants.push_back({"reader", c.http_read_token, false});
  for (const std::string& entry : c.http_tokens) {
    auto bad = [&entry](const std::string& why) {
      return Status::Error(Code::kInvalid, "broker.http_tokens entry \"" + entry + "\": " + why);
    };
    const std::size_t eq = entry.find('=');
    const std::size_t colon = entry.substr(0, eq).find(':');
    if (eq == std::string::npos || colon == std::string::npos) {
      return bad("must be \"<name>:<read|operate>[@<team>+<team>]=<token file>\"");
    }
    HttpGrant grant;
    grant.name = entry.substr(0, colon);
    const std::string rest = entry.substr(colon + 1, eq - colon - 1);
    const std::size_t at = rest.find('@');
    const std::string role = rest.substr(0, at);
    if (!IsKeyName(grant.name)) return bad("the name must be printable, without spaces, ',', '@', '+' or ':'");
    if (role != "read" && role != "operate") return bad("the role must be read or operate, not \"" + role + "\"");
    grant.operate = role == "operate";
    if (at != std::string::npos) {
      auto teams = ParseTeams(std::string_view(rest).substr(at + 1));
      if (!teams) return bad("teams must be ids or \"general\" joined by '+'");
      grant.teams = *teams;
    }
    const std::string path = entry.substr(eq + 1);
    std::ifstream in(path, std::ios::binary);
    if (!in) return bad("cannot read the token file \"" + path + "\": " + std::strerror(errno));
    std::getline(in, grant.token, '\0');
    if (!grant.token.empty() && grant.token.back() == '\n') grant.token.pop_back();
    if (grant.token.size() < 16) return bad("the token in \"" + path + "\" must be at least 16 characters");
    grants.push_back(std::move(grant));
  }
  for (std::size_t i = 0; i < grants.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (grants[i].name == grants[j].name) {
        return Status::Error(Code::kInvalid, "broker.http_tokens: the name \"" + grants[i].name + "\" is used twice");
      }
      if (grants[i].token == grants[j].token) {
        return Status::Error(Code::kInvalid, "broker.http_tokens: tokens " + grants[j].name + " and " +
                                                 grants[i].name + " are the same; each needs its own");
      }
    }
  }
  return grants;
}

Status ValidateSecurity(const Config& c, bool broker) {
  if (broker) {
    if (auto grants = HttpGrants(c); !grants.ok()) return grants.status();
  }
  if (!c.curve_enabled) return Status();
  if (Status s = NeedKey("broker_public_key", c.broker_public_key); !s.ok()) return s;
  if (broker) {
    if (Status s = NeedKey("broker_secret_key", c.broker_secret_key); !s.ok()) return s;
    return AuthorizedKeys(c).status();
  }
  if (Status s = NeedKey("client_public_key", c.client_public_key); !s.ok()) return s;
  return NeedKey("client_secret_key", c.client_secret_key);
}

void ApplyServerSecurity(zmq::socket_t& socket, const Config& c, std::string_view domain) {
  if (!c.curve_enabled) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, c.broker_secret_key);
  // The ZAP handler (the broker's key lists) is asked about every
  // connection, and the domain tells it which socket the key wants.
  socket.set(zmq::sockopt::zap_domain, std::string(domain));
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
