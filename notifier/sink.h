// Sink: somewhere notifications go (the log, Slack, a webhook, email).
#pragma once

#include <string>

#include "common/status.h"
#include "schemas/messages.h"

namespace notifier {

// One event as sinks see it: topic, seq and both decoded forms.
struct Notification {
  std::string topic;
  std::uint64_t seq = 0;
  bool is_alert = false;
  schemas::RunEvent run;      // when !is_alert
  schemas::AlertEvent alert;  // when is_alert
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;
  // Delivers one notification; an error means "try again later".
  virtual common::Status Deliver(const Notification& n) = 0;
};

// A line people can read: "run r0000000007 team 2 completed: 1000 loans, 51
// exceptions (attempt 1)".
std::string DescribeNotification(const Notification& n);

// Always on: one structured log line per event through spdlog.
class LogSink final : public Sink {
 public:
  std::string name() const override { return "log"; }
  common::Status Deliver(const Notification& n) override;
};

}  // namespace notifier
