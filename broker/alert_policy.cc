#include "broker/alert_policy.h"

#include "common/team.h"

namespace broker {

namespace {

schemas::AlertEvent Alert(std::string_view kind, std::uint32_t team, const std::string& run_id,
                          std::uint32_t count, std::string message, std::int64_t now_ms) {
  schemas::AlertEvent a;
  a.kind = kind;
  a.team = team;
  a.run_id = run_id;
  a.count = count;
  a.message = std::move(message);
  a.at_unix_ms = now_ms;
  return a;
}

}  // namespace

std::vector<schemas::AlertEvent> AlertPolicy::OnRunEnded(std::uint32_t team,
                                                         const std::string& run_id,
                                                         bool succeeded, const std::string& error,
                                                         std::int64_t now_ms,
                                                         schemas::TeamStatus& status) const {
  std::vector<schemas::AlertEvent> alerts;
  const std::string who = common::TeamLabel(team);
  if (succeeded) {
    if (status.alerted || status.silence_alerted) {
      alerts.push_back(Alert(schemas::alert::kRecovered, team, run_id, status.consecutive_failures,
                             who + " succeeded again" +
                                 (status.consecutive_failures > 0
                                      ? " after " + std::to_string(status.consecutive_failures) +
                                            " failed runs"
                                      : ""),
                             now_ms));
    }
    status.consecutive_failures = 0;
    status.alerted = false;
    status.silence_alerted = false;
    status.last_success_unix_ms = now_ms;
    return alerts;
  }
  ++status.consecutive_failures;
  if (status.consecutive_failures >= failure_threshold_ && !status.alerted) {
    status.alerted = true;
    alerts.push_back(Alert(schemas::alert::kConsecutiveFailures, team, run_id, status.consecutive_failures,
                           who + " has failed " + std::to_string(status.consecutive_failures) +
                               " runs in a row; last error: " + error,
                           now_ms));
  }
  return alerts;
}

std::optional<schemas::AlertEvent> AlertPolicy::CheckSilence(std::uint32_t team,
                                                             std::int64_t since_ms,
                                                             std::int64_t now_ms,
                                                             schemas::TeamStatus& status) const {
  if (no_success_after_.count() == 0 || status.silence_alerted) return std::nullopt;
  if (now_ms - since_ms < no_success_after_.count()) return std::nullopt;
  status.silence_alerted = true;
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(no_success_after_).count();
  return Alert(schemas::alert::kNoSuccess, team, "", status.consecutive_failures,
               common::TeamLabel(team) + " has had no successful run for over " +
                   std::to_string(hours) + " h",
               now_ms);
}

}  // namespace broker
