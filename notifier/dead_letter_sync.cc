#include "notifier/dead_letter_sync.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "notifier/notifier.h"
#include "schemas/dead_letter.h"
#include "schemas/vocabulary.h"

namespace notifier {

namespace {
// As long as the notifier's other control calls: the loop waits no longer.
constexpr std::chrono::milliseconds kCallTimeout{3000};

// Refusals that asking again cannot change (an older broker without the op,
// a key that may not send it, a letter it does not take).
bool Final(const common::Status& s) {
  return s.code() == common::Code::kInvalid || s.code() == common::Code::kRejected;
}
}  // namespace

void DeadLetterSync::Turn(SinkRouter& router) {
  const common::Clock::Mono now = clock_.Now();
  if (!outbox_->HasWaiting() && now < next_sync_) return;
  next_sync_ = now + every_;
  const DeadLetterOutbox::Batch batch = outbox_->Waiting(schemas::kMaxDeadLettersPerSync);
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kNotificationsSync);
  request.dead_letters = batch.dead_letters;
  request.delivered = batch.delivered;
  auto reply = control_.Call(request, kCallTimeout);
  if (!reply.ok() && Final(reply.status())) {
    // Holding the sinks back for a broker that will never take the letters
    // would stop delivery altogether: they stay only in this log.
    spdlog::error("the broker refuses notifications.sync: {}; {} give-up(s) are recorded only in this log",
                  reply.status().message(), batch.dead_letters.size());
    outbox_->Recorded(batch);
    return;
  }
  if (!reply.ok()) {
    if (!failing_ && batch.empty()) {
      spdlog::warn("cannot ask the broker for redeliveries: {}; asking again in {} ms",
                   reply.status().message(), every_.count());
    } else if (!failing_) {
      spdlog::warn("cannot record {} failed and {} redelivered notification(s) with the broker: {}; "
                   "their sinks wait, and the next turn asks again",
                   batch.dead_letters.size(), batch.delivered.size(), reply.status().message());
    }
    failing_ = true;
    return;
  }
  if (failing_) spdlog::info("the broker records failed notifications again");
  failing_ = false;
  outbox_->Recorded(batch);
  Redeliver(reply.value().dead_letters, router);
}

void DeadLetterSync::Again(schemas::DeadLetter letter, const std::string& reason) {
  spdlog::error("sink {}: cannot redeliver seq {}: {}", letter.sink, letter.seq, reason);
  letter.redeliver = false;
  letter.reason = reason;
  letter.failed_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch()).count();
  outbox_->Post(std::move(letter));  // in flight until the broker has it
}

void DeadLetterSync::Redeliver(const std::vector<schemas::DeadLetter>& asked, SinkRouter& router) {
  for (const schemas::DeadLetter& d : asked) {
    if (!d.redeliver || d.seq == 0) continue;
    if (!outbox_->BeginRedelivery(d.sink, d.seq)) continue;  // queued already
    DeliveryQueue* queue = router.Find(d.sink);
    if (queue == nullptr) {
      Again(d, "no sink \"" + d.sink + "\" is configured in this notifier now");
      continue;
    }
    schemas::ControlRequest fetch;
    fetch.op = std::string(schemas::op::kEventsSince);
    fetch.since_seq = d.seq - 1;
    fetch.limit = 1;
    auto reply = control_.Call(fetch, kCallTimeout);
    if (!reply.ok()) {
      // The broker still marks it: the next sync's answer asks again.
      spdlog::warn("cannot fetch seq {} to redeliver it: {}", d.seq, reply.status().message());
      outbox_->EndRedelivery(d.sink, d.seq);
      return;
    }
    const auto& events = reply.value().events;
    if (events.empty() || events.front().seq != d.seq) {
      Again(d, fmt::format("event seq {} is no longer in the broker's event log", d.seq));
      continue;
    }
    const schemas::LoggedEvent& e = events.front();
    auto n = DecodeNotification(e.topic, std::string_view(e.payload.data(), e.payload.size()));
    if (!n.ok()) {
      Again(d, fmt::format("event seq {} does not decode: {}", d.seq, n.status().message()));
      continue;
    }
    n.value().seq = d.seq;
    if (n.value().incarnation.empty()) n.value().incarnation = reply.value().incarnation;
    spdlog::info("sink {}: redelivering seq {} ({}), as asked", d.sink, d.seq, e.topic);
    queue->Redeliver(n.value());
  }
}

}  // namespace notifier
