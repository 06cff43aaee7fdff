// Notifier: offers every run and alert event to the sink router, in
// sequence order, at least once. It fills any gap (a restart, a dropped
// frame, a full queue) from the broker's event log, and keeps on disk the
// seq through which every sink has finished, so a restart replays exactly
// what some sink had not finished yet.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "notifier/cursor_file.h"
#include "notifier/sink.h"
#include "notifier/sink_router.h"
#include "schemas/control_client.h"

namespace notifier {

class Notifier {
 public:
  // `subscriber` is a SUB on the bus subscribed to "run." and "alert.".
  // `router` must be started. Everything is borrowed and must outlive the
  // Notifier.
  Notifier(zmq::socket_t& subscriber, schemas::ControlClient& control, const CursorFile& cursor,
           SinkRouter& router, const common::Clock& clock);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Until `stop`; then lets the sinks finish within `drain_grace`, stores
  // the cursor and returns.
  // With `from_newest`, a notifier with no cursor file yet starts at the
  // broker's newest event instead of replaying the retained log (for adding
  // a notifier to a system with history). A cursor always wins.
  void set_from_newest(bool from_newest) { from_newest_ = from_newest; }
  common::Status Run(const std::atomic<bool>& stop,
                     std::chrono::milliseconds drain_grace = std::chrono::seconds(3));

 private:
  // Fetches and offers logged events after `offered_`. False when the
  // broker did not answer or a sink queue is full (we try again soon).
  bool CatchUp();
  void Consider(const std::string& topic, std::string_view payload);
  // False when the router had no room (nothing was queued).
  bool Offer(const Notification& n);
  // Stores the cursor when the sinks have moved it.
  void Commit();

  zmq::socket_t& subscriber_;
  schemas::ControlClient& control_;
  const CursorFile& cursor_;
  SinkRouter& router_;
  const common::Clock& clock_;
  std::uint64_t offered_ = 0;    // handed to the router (or known garbage)
  std::uint64_t committed_ = 0;  // on disk: every sink finished through it
  bool from_newest_ = false;
  bool behind_ = true;           // a gap we have not filled yet
};

// Decodes a logged or published event; kRejected for topics we do not handle.
common::Result<Notification> DecodeNotification(const std::string& topic, std::string_view payload);

}  // namespace notifier
