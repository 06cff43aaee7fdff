// DeadLetterOps: the control ops on notifications the notifier gave up on
// (notifications.failed, .redeliver, .sync), kept in the run store as
// D/<sink>/<seq>. Called by ControlHandler::Answer on the loop's thread.
// The figures stats reports (how many, which are asked for again) are kept
// in memory, so a /metrics scrape reads no store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "broker/store.h"
#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

class DeadLetterOps {
 public:
  // `store` must outlive the ops.
  explicit DeadLetterOps(Store& store) : store_(store) {}
  DeadLetterOps(const DeadLetterOps&) = delete;
  DeadLetterOps& operator=(const DeadLetterOps&) = delete;

  // Whether `op` is one of the three.
  static bool Handles(std::string_view op);

  // REQUIRES: Handles(request.op). Changes are staged into the store's
  // pending group, not written: the caller flushes it before the reply
  // leaves (Broker::HandleControl does), so a reply never reports a write
  // that did not happen. `no_space`: the broker's disk state; while it is
  // not OK, .redeliver and .sync are refused with it.
  common::Result<schemas::ControlReply> Answer(const schemas::ControlRequest& request,
                                               const common::Status& no_space);

  // How many letters the store holds (stats: notifications_failed), and
  // how many of them wait for a redelivery. Read from the store once.
  common::Result<std::size_t> Count();
  common::Result<std::size_t> Pending();

 private:
  using Key = std::pair<std::string, std::uint64_t>;  // sink, seq
  common::Status Load();
  common::Result<schemas::ControlReply> Failed(const schemas::ControlRequest& request);
  common::Result<schemas::ControlReply> Redeliver(const schemas::ControlRequest& request);
  common::Result<schemas::ControlReply> Sync(const schemas::ControlRequest& request);

  Store& store_;
  bool loaded_ = false;
  std::size_t count_ = 0;
  std::set<Key> redeliver_;  // letters marked redeliver, as written
};

}  // namespace broker
