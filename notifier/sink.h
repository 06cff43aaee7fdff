// Sink: somewhere notifications go (the log, Slack, a webhook, email), and
// what one delivery attempt to it came to.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "schemas/event_id.h"
#include "schemas/messages.h"

namespace notifier {

// One event as sinks see it: topic, seq and both decoded forms.
struct Notification {
  std::string topic;
  std::uint64_t seq = 0;
  // The broker store's incarnation the event was written in; with `seq` it
  // names the event for good (event_id).
  std::string incarnation;
  bool is_alert = false;
  schemas::RunEvent run;      // when !is_alert
  schemas::AlertEvent alert;  // when is_alert

  std::uint32_t team() const { return is_alert ? alert.team : run.run.team; }
  const std::string& run_id() const { return is_alert ? alert.run_id : run.run.run_id; }
  // "<incarnation>:<seq>", or "<seq>" for an event from before incarnations:
  // unique across a restored or rebuilt store, where seqs repeat.
  std::string event_id() const { return schemas::EventId(incarnation, seq); }
};

// The outcome of one attempt. kRetry may carry the server's own idea of when
// to try again (HTTP 429/503 Retry-After).
struct Attempt {
  enum class Outcome { kDelivered, kRetry, kPermanent };
  Outcome outcome = Outcome::kDelivered;
  std::string error;  // for the log, when not delivered
  std::optional<std::chrono::milliseconds> retry_after;

  static Attempt Delivered() { return {}; }
  static Attempt Retry(std::string error,
                       std::optional<std::chrono::milliseconds> after = std::nullopt) {
    return {Outcome::kRetry, std::move(error), after};
  }
  static Attempt Permanent(std::string error) { return {Outcome::kPermanent, std::move(error), {}}; }
  bool delivered() const { return outcome == Outcome::kDelivered; }
};

// A sink is used by one delivery thread at a time (its DeliveryQueue's).
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;
  // Tries once to deliver `n`. Must return within the sink's own timeout.
  virtual Attempt Deliver(const Notification& n) = 0;
};

// A line people can read: "run r0000000007 team 2 completed (pdate
// 2025-06-03, attempt 1): 1000 loans, 51 exceptions, 3.2 s".
std::string DescribeNotification(const Notification& n);

// Seconds between start and finish of the run, or a negative value when
// either is unknown.
double RunDurationSeconds(const schemas::RunRecord& r);
// The last line of a run's stderr tail (its reason, in its own words), for
// one-line summaries; empty for a success or a run without one.
std::string LastLine(const schemas::RunRecord& r);

// Always on: one structured log line per event through spdlog.
class LogSink final : public Sink {
 public:
  std::string name() const override { return "log"; }
  Attempt Deliver(const Notification& n) override;
};

}  // namespace notifier
