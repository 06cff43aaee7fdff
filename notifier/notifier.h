// Notifier: offers every run and alert event to the sink router, in
// sequence order, at least once. It fills any gap (a restart, a dropped
// frame, a full queue) from the broker's event log, and keeps on disk the
// seq through which every sink has finished, so a restart replays exactly
// what some sink had not finished yet.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "notifier/cursor_file.h"
#include "notifier/dead_letter_sync.h"
#include "notifier/sink.h"
#include "notifier/sink_router.h"
#include "schemas/control_client.h"

namespace notifier {

class Notifier {
 public:
  // `subscriber` is a SUB on the bus subscribed to topic::kRunPrefix and
  // topic::kAlertPrefix.
  // `router` must be started. Everything is borrowed and must outlive the
  // Notifier.
  Notifier(zmq::socket_t& subscriber, schemas::ControlClient& control, const CursorFile& cursor,
           SinkRouter& router, const common::Clock& clock);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // With `from_newest`, a notifier with no cursor file yet starts at the
  // broker's newest event instead of replaying the retained log (for adding
  // a notifier to a system with history). A cursor always wins.
  void set_from_newest(bool from_newest) { from_newest_ = from_newest; }
  // A PUB socket on the bus: every few seconds the notifier reports there
  // how far it has delivered, per sink (schemas/notifier_progress.h), for
  // the broker's /metrics. Null (the default): no reports.
  void set_progress_publisher(zmq::socket_t* publisher) { progress_publisher_ = publisher; }
  // How often a quiet notifier asks the broker for redeliveries
  // (notifications.sync); give-ups are sent at the next turn regardless.
  void set_dead_letter_sync_every(std::chrono::milliseconds every) { dead_letters_.set_every(every); }
  // Where the sinks' give-ups wait for the broker (for tests).
  DeadLetterOutbox& dead_letters() { return dead_letters_.outbox(); }

  // Start, then Turn until `stop`, then Finish. An error when the cursor
  // cannot be read or stored at start, or the bus socket fails.
  common::Status Run(const std::atomic<bool>& stop,
                     std::chrono::milliseconds drain_grace = std::chrono::seconds(3));

  // The steps of Run, for tests and for mains that loop themselves.
  // Start: reads the cursor (kCorrupt or kIoError when it cannot), finds
  // where to begin (asking the broker until `stop` with `from_newest`),
  // and replays the broker's log after it.
  common::Status Start(const std::atomic<bool>& stop);
  // One turn: waits for bus events (at most `max_wait`), offers them in
  // order, fills any gap from the log, and stores the cursor as far as
  // every sink has finished. A signal ends the wait early with OK.
  common::Status Turn(std::chrono::milliseconds max_wait = std::chrono::milliseconds(1000));
  // Lets the sinks finish within `drain_grace`, then stores the cursor.
  void Finish(std::chrono::milliseconds drain_grace);

  // New destinations (a reload): safe from any thread. At its next turn
  // the notifier stops the router it delivers to (its queues get `grace`
  // to finish what they hold), stores the cursor through what every sink
  // finished, and hands the rest, replayed from the broker's log, to
  // `next`, which must be started. As after a restart: a sink may see an
  // event again that it had delivered when another sink had not.
  void ReplaceRouter(std::unique_ptr<SinkRouter> next,
                     std::chrono::milliseconds grace = std::chrono::seconds(3));

  std::uint64_t offered() const { return offered_; }
  std::uint64_t committed() const { return committed_; }
  // A gap is known and not filled yet (the broker did not answer, or a
  // sink queue was full).
  bool behind() const { return behind_; }

 private:
  // Fetches and offers logged events after `offered_`. False when the
  // broker did not answer or a sink queue is full (we try again soon).
  bool CatchUp();
  // Checks the store a reply names against the one we deliver from. False
  // when it changed under events already offered: fatal_ is set, and a
  // restart rebases the cursor (a new store's seqs may repeat old ones).
  bool SameStore(const std::string& incarnation, std::uint64_t from);
  void Consider(const std::string& topic, std::string_view payload);
  // False when the router had no room (nothing was queued).
  bool Offer(const Notification& n);
  // Stores the cursor when the sinks have moved it.
  void Commit();
  // Publishes notifier.progress when one is due.
  void ReportProgress();
  // Tells the router which store the events come from, and remembers it.
  void Adopt(const StoreIdentity& store);
  // Moves to the router ReplaceRouter left, if any.
  void SwapRouter();

  zmq::socket_t& subscriber_;
  schemas::ControlClient& control_;
  const CursorFile& cursor_;
  SinkRouter* router_;  // the main's, then one a reload made
  std::unique_ptr<SinkRouter> owned_router_;
  std::mutex next_mutex_;  // ReplaceRouter's thread and the loop's
  std::unique_ptr<SinkRouter> next_router_;
  std::chrono::milliseconds next_grace_{0};
  StoreIdentity adopted_;
  const common::Clock& clock_;
  std::uint64_t offered_ = 0;    // handed to the router (or known garbage)
  std::uint64_t committed_ = 0;  // on disk: every sink finished through it
  bool from_newest_ = false;
  bool behind_ = true;           // a gap we have not filled yet
  bool offered_any_ = false;     // this process offered an event
  std::string incarnation_;      // the store we deliver from (empty: not known yet)
  common::Status fatal_;         // Turn's answer once the store changed mid-delivery
  common::Clock::Mono next_check_{};  // when a quiet bus next asks the log
  zmq::socket_t* progress_publisher_ = nullptr;
  common::Clock::Mono next_report_{};
  DeadLetterSync dead_letters_;
};

// Decodes a logged or published event; kRejected for topics we do not handle.
common::Result<Notification> DecodeNotification(const std::string& topic, std::string_view payload);

}  // namespace notifier
