// ZapHandler: answers ZeroMQ's authentication requests (ZAP, RFC 27) for
// the broker's CURVE sockets. A listed key is admitted only on the sockets
// its role uses (KeyFitsSocket), and its connection's messages carry the
// key's grant as their ZAP User-Id ("runner:<id>", "publisher", "client",
// "any"), which the broker reads per message. With no list, any client
// holding the broker's public key is admitted as "any".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "common/security.h"

namespace broker {

// The role table (docs/security.md): which role may connect to which
// socket, by its ZAP domain (common::zap_domain).
//   work     runner, any
//   bus      publisher, client, any
//   control  publisher (reads and trigger, PublisherMayAsk), client, any
// A runner key is on the work socket only: a leaked runner key neither
// publishes dues nor changes teams. Any other domain: nobody.
bool KeyFitsSocket(common::KeyRole role, std::string_view domain);
// The control ops a publisher key may send: the reads the ticker, the
// notifier and the dashboard make, and trigger (a publisher may start a run
// by publishing a due anyway). Backfill, cancel and team changes need a
// client key.
bool PublisherMayAsk(std::string_view op);
// Whether a subscriber holding `grant` may subscribe to `topic` (a prefix)
// on the bus. The bus carries every team's run records, reasons and
// stderr tails, and ZeroMQ filters by topic prefix only, so a key bound to
// teams may take "due.ack" (the answers `daybreak publish` waits for) and
// nothing wider; it reads its own runs with runs.list and run.get.
bool KeyMaySubscribe(const common::KeyGrant& grant, std::string_view topic);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `context`, which must outlive it. Must be
  // created before the sockets it guards accept connections. `keys` is
  // common::AuthorizedKeys; empty admits any key as "any".
  ZapHandler(zmq::context_t& context, std::map<std::string, common::KeyGrant> keys);
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Admits one more key of the process's own (the dashboard's), kept
  // whatever SetKeys is given.
  void Authorize(const std::string& public_key_z85, common::KeyGrant grant) {
    own_[public_key_z85] = grant;
    keys_[public_key_z85] = std::move(grant);
  }
  // Replaces the listed keys (a reload): connections made from now on are
  // checked against `keys` (empty: any key, as at the start). Connections
  // already made keep going; the broker checks each of their messages
  // against the keys too (Broker::Revoked).
  void SetKeys(std::map<std::string, common::KeyGrant> keys);
  zmq::socket_t& socket() { return socket_; }
  // Answers one pending request (call when the socket is readable).
  void HandleRequest();
  // Connections refused so far (unknown key, or a role on the wrong socket).
  std::uint64_t refused() const { return refused_; }

 private:
  zmq::socket_t socket_;
  std::map<std::string, common::KeyGrant> keys_;
  std::map<std::string, common::KeyGrant> own_;  // Authorize's
  bool allow_any_;
  std::uint64_t refused_ = 0;
};

}  // namespace broker
