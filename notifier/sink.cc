#include "notifier/sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/team.h"

namespace notifier {

double RunDurationSeconds(const schemas::RunRecord& r) {
  if (r.started_unix_ms <= 0 || r.finished_unix_ms < r.started_unix_ms) return -1;
  return (r.finished_unix_ms - r.started_unix_ms) / 1000.0;
}

std::string DescribeNotification(const Notification& n) {
  if (n.is_alert) {
    return fmt::format("ALERT {} {}: {}", n.alert.kind, common::TeamLabel(n.alert.team),
                       n.alert.message);
  }
  const schemas::RunRecord& r = n.run.run;
  std::string line = fmt::format("run {} {} {} (pdate {}, attempt {})", r.run_id,
                                 common::TeamLabel(r.team), n.run.event, r.pdate, r.attempt);
  if (n.run.event == "completed") {
    line += fmt::format(": {} loans, {} exceptions, {:.1f} s", r.total_loans, r.exceptions_count,
                        (r.finished_unix_ms - r.started_unix_ms) / 1000.0);
  } else if (!r.error.empty()) {
    line += ": " + r.error;
  }
  return line;
}

Attempt LogSink::Deliver(const Notification& n) {
  const std::string line = fmt::format("seq={} topic={} {}", n.seq, n.topic, DescribeNotification(n));
  if (n.is_alert || n.run.event == "failed" || n.run.event == "missed") {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
  return Attempt::Delivered();
}

}  // namespace notifier
