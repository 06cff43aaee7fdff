#include "notifier/sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/team.h"
#include "notifier/sink_kind.h"
#include "schemas/vocabulary.h"

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
  if (n.run.event == schemas::event::kCompleted) {
    line += fmt::format(": {} loans, {} exceptions, {:.1f} s", r.total_loans, r.exceptions_count,
                        (r.finished_unix_ms - r.started_unix_ms) / 1000.0);
  } else if (!r.error.empty()) {
    line += ": " + r.error;
  }
  if (const std::string reason = LastLine(r); !reason.empty()) line += " (" + reason + ")";
  return line;
}

std::string LastLine(const schemas::RunRecord& r) {
  if (r.state == schemas::RunState::kSucceeded) return "";
  std::string_view tail = r.stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ' || tail.back() == '\t')) {
    tail.remove_suffix(1);
  }
  const std::size_t nl = tail.rfind('\n');
  return std::string(nl == std::string_view::npos ? tail : tail.substr(nl + 1));
}

Attempt LogSink::Deliver(const Notification& n) {
  const std::string line = fmt::format("seq={} topic={} {}", n.seq, n.topic, DescribeNotification(n));
  if (n.is_alert || n.run.event == schemas::event::kFailed || n.run.event == schemas::event::kMissed) {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
  return Attempt::Delivered();
}

namespace {

// The log: always on, for every event unless notifier.log_events says
// otherwise; a team may only narrow or widen its events (log_events).
class LogKind final : public SinkKind {
 public:
  LogKind() : SinkKind("log", "log_events", "DAYBREAK_NOTIFIER_LOG_EVENTS", {"*"}) {}
  std::vector<std::string> Destination(std::optional<std::uint32_t>) const override { return {}; }
  bool HasGlobalDestination() const override { return true; }
  bool HasTeamDestination(std::uint32_t) const override { return false; }
  std::unique_ptr<Sink> Make(const std::string&, std::optional<std::uint32_t>,
                             const SinkContext&) const override {
    return std::make_unique<LogSink>();
  }

 protected:
  void DeclareOwnKeys(common::KeySet&) override {}
  void DeclareOwnTeamKeys(std::uint32_t, common::KeySet&) override {}
  common::Status ValidateOwn() const override { return common::Status(); }
  common::Status ValidateTeam(std::uint32_t, const std::string&) const override {
    return common::Status();
  }
};

}  // namespace

// The descriptor sink_registry.cc lists.
std::unique_ptr<SinkKind> NewLogKind() { return std::make_unique<LogKind>(); }

}  // namespace notifier
