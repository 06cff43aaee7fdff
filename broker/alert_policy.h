// AlertPolicy: when a team's runs deserve people's attention. A streak of
// failed runs reaching the threshold, or a team with no success for too
// long, raises one alert per episode; the next success closes the episode
// with a "recovered" alert. Pure logic over a TeamStatus.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schemas/messages.h"

namespace broker {

class AlertPolicy {
 public:
  // `no_success_after` zero disables the silence alert.
  AlertPolicy(std::uint32_t failure_threshold, std::chrono::milliseconds no_success_after)
      : failure_threshold_(failure_threshold), no_success_after_(no_success_after) {}

  // Updates `status` for a run of `team` that ended succeeded or failed and
  // returns the alerts that raises.
  std::vector<schemas::AlertEvent> OnRunEnded(std::uint32_t team, const std::string& run_id,
                                              bool succeeded, const std::string& error,
                                              std::int64_t now_ms,
                                              schemas::TeamStatus& status) const;

  // For an active team whose last success (or schedule start) was at
  // `since_ms`: the silence alert, once per episode.
  std::optional<schemas::AlertEvent> CheckSilence(std::uint32_t team, std::int64_t since_ms,
                                                  std::int64_t now_ms,
                                                  schemas::TeamStatus& status) const;

 private:
  std::uint32_t failure_threshold_;
  std::chrono::milliseconds no_success_after_;
};

}  // namespace broker
