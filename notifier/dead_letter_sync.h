// DeadLetterSync: the notifier loop's side of dead letters. Each turn it
// may send one notifications.sync: at once while give-ups or finished
// redeliveries wait in the outbox, else every `every`. The broker records
// the give-ups (releasing the delivery threads waiting on them) and
// answers with the redeliveries an operator asked for, which this class
// fetches from the event log and queues at their sinks.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "notifier/dead_letters.h"
#include "notifier/sink_router.h"
#include "schemas/control_client.h"

namespace notifier {

inline constexpr std::chrono::milliseconds kDefaultDeadLetterSync{5000};

class DeadLetterSync {
 public:
  // `control` and `clock` must outlive this.
  DeadLetterSync(schemas::ControlClient& control, const common::Clock& clock)
      : control_(control), clock_(clock) {}
  DeadLetterSync(const DeadLetterSync&) = delete;
  DeadLetterSync& operator=(const DeadLetterSync&) = delete;

  void set_every(std::chrono::milliseconds every) { every_ = every; }
  DeadLetterOutbox& outbox() { return *outbox_; }
  const std::shared_ptr<DeadLetterOutbox>& shared_outbox() const { return outbox_; }

  // One sync when one is due; redeliveries go to `router`'s queues. Blocks
  // at most one control call's timeout per broker request.
  void Turn(SinkRouter& router);
  // The last sync got no answer (it is tried again next turn).
  bool failing() const { return failing_; }

 private:
  // Queues each letter asked for that is not in flight yet.
  void Redeliver(const std::vector<schemas::DeadLetter>& asked, SinkRouter& router);
  // `letter` could not be redelivered: a dead letter again, for `reason`.
  void Again(schemas::DeadLetter letter, const std::string& reason);

  schemas::ControlClient& control_;
  const common::Clock& clock_;
  std::shared_ptr<DeadLetterOutbox> outbox_ = std::make_shared<DeadLetterOutbox>();
  std::chrono::milliseconds every_ = kDefaultDeadLetterSync;
  common::Clock::Mono next_sync_{};
  bool failing_ = false;
};

}  // namespace notifier
