#include "broker/retry_policy.h"

#include <algorithm>

#include "common/backoff.h"

namespace broker {

RetryPolicy RetryPolicy::For(const schemas::TeamRecord* team) const {
  RetryPolicy policy = *this;
  if (team == nullptr) return policy;
  if (!team->retry_on.empty()) policy.retry_any_failure = team->retry_on == schemas::retry_on::kAny;
  if (team->backoff_initial_s > 0) policy.initial = std::chrono::seconds(team->backoff_initial_s);
  if (team->backoff_max_s > 0) policy.max = std::chrono::seconds(team->backoff_max_s);
  policy.max = std::max(policy.max, policy.initial);
  return policy;
}

bool RetryPolicy::Retries(std::string_view outcome) const {
  return outcome == schemas::outcome::kTransient || retry_any_failure;
}

std::chrono::milliseconds Backoff::Delay(const RetryPolicy& policy, std::uint32_t attempt) {
  return common::EqualJitterBackoff(policy.initial, policy.max, attempt, random_);
}

}  // namespace broker
