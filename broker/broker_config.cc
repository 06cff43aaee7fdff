#include "broker/broker_config.h"

#include "common/schedule.h"

namespace broker {

Settings SettingsFrom(const common::Config& c) {
  Settings s;
  s.misfire_grace = std::chrono::seconds(c.misfire_grace_s);
  s.retry.initial = std::chrono::milliseconds(static_cast<std::int64_t>(c.backoff_initial_s * 1000));
  s.retry.max = std::chrono::milliseconds(static_cast<std::int64_t>(c.backoff_max_s * 1000));
  s.retry.retry_any_failure = c.retry_on == "any";
  s.failure_alert_threshold = static_cast<std::uint32_t>(c.failure_alert_threshold);
  s.event_retention = std::chrono::hours(24LL * c.event_retention_days);
  s.run_retention = std::chrono::hours(24LL * c.run_retention_days);
  s.no_success_alert = std::chrono::milliseconds(static_cast<std::int64_t>(c.no_success_alert_h * 3'600'000));
  s.heartbeat = std::chrono::milliseconds(c.heartbeat_ms);
  s.heartbeat_liveness = c.heartbeat_liveness;
  s.dispatch_timeout = std::chrono::seconds(c.dispatch_timeout_s);
  s.lease = std::chrono::milliseconds(c.lease_ms);
  s.lease_grace = std::chrono::milliseconds(c.lease_grace_ms);
  return s;
}

TeamDefaults TeamDefaultsFrom(const common::Config& c) {
  TeamDefaults d;
  d.run_time = c.daily_run_time;
  d.timezone = c.timezone.empty() ? common::MachineZoneName() : c.timezone;
  d.overlap = c.overlap;
  d.max_attempts = static_cast<std::uint32_t>(c.max_attempts);
  // LoadConfig rejects a weekday it cannot parse; keep the default if not.
  if (auto day = common::ParseWeekday(c.purchase_weekday); day.ok()) d.purchase_day = day.value();
  return d;
}

}  // namespace broker
