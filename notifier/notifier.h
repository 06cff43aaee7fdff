// Notifier: delivers every run and alert event to its sinks, in sequence
// order, at least once. It remembers the last delivered seq on disk and
// fills any gap (a restart, a dropped frame) from the broker's event log.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "notifier/cursor_file.h"
#include "notifier/sink.h"
#include "schemas/control_client.h"

namespace notifier {

class Notifier {
 public:
  // `subscriber` is a SUB on the bus subscribed to "run." and "alert.".
  // Everything is borrowed and must outlive the Notifier.
  Notifier(zmq::socket_t& subscriber, schemas::ControlClient& control, const CursorFile& cursor,
           std::vector<Sink*> sinks, const common::Clock& clock);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  common::Status Run(const std::atomic<bool>& stop);

 private:
  // Fetches and delivers logged events after the cursor. False when the
  // broker did not answer (we try again later).
  bool CatchUp();
  void Consider(const std::string& topic, std::string_view payload);
  void Deliver(const Notification& n);

  zmq::socket_t& subscriber_;
  schemas::ControlClient& control_;
  const CursorFile& cursor_;
  std::vector<Sink*> sinks_;
  const common::Clock& clock_;
  std::uint64_t delivered_ = 0;
  bool behind_ = true;  // a gap we have not filled yet
};

// Decodes a logged or published event; kRejected for topics we do not handle.
common::Result<Notification> DecodeNotification(const std::string& topic, std::string_view payload);

}  // namespace notifier
