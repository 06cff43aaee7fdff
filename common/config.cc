#include "common/config.h"

#include <limits>

#include "common/config_keys.h"
#include "common/schedule.h"
#include "schemas/vocabulary.h"

namespace common {
namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::Error(Code::kInvalid, where + ": " + what);
}

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();

// Every setting, where it lives, its range and the variables that override
// it (the earlier scheduler's name first, so the DAYBREAK_ one wins).
KeySet Keys(Config& c) {
  KeySet k;
  k.String("endpoints.bus_publish", &c.bus_publish, {"DAYBREAK_BUS_PUBLISH"})
      .String("endpoints.bus_subscribe", &c.bus_subscribe, {"DAYBREAK_BUS_SUBSCRIBE"})
      .String("endpoints.control", &c.control, {"DAYBREAK_CONTROL"})
      .String("endpoints.work", &c.work, {"DAYBREAK_WORK"});
  k.Bool("schedule.enable_scheduler", &c.enable_scheduler, {"ENABLE_SCHEDULER", "DAYBREAK_ENABLE_SCHEDULER"})
      .String("schedule.daily_run_time", &c.daily_run_time, {"DAILY_RUN_TIME", "DAYBREAK_DAILY_RUN_TIME"})
      .String("schedule.timezone", &c.timezone, {"TIMEZONE", "DAYBREAK_TIMEZONE"})
      .Int("schedule.misfire_grace_s", &c.misfire_grace_s, {0, kIntMax}, {"MISFIRE_GRACE", "DAYBREAK_MISFIRE_GRACE"})
      .String("schedule.purchase_weekday", &c.purchase_weekday, {"DAYBREAK_PURCHASE_WEEKDAY"})
      .String("schedule.overlap", &c.overlap, {"DAYBREAK_OVERLAP"})
      .Int("schedule.max_backfill_days", &c.max_backfill_days, {1, kIntMax}, {"DAYBREAK_MAX_BACKFILL_DAYS"});
  k.String("paths.input_dir", &c.input_dir, {"INPUT_DIR", "DAYBREAK_INPUT_DIR_ROOT"})
      .String("paths.output_dir", &c.output_dir, {"OUTPUT_DIR", "DAYBREAK_OUTPUT_DIR_ROOT"})
      .String("paths.state_dir", &c.state_dir, {"DAYBREAK_STATE_DIR"})
      .String("paths.log_dir", &c.log_dir, {"DAYBREAK_LOG_DIR"});
  k.Int("retry.max_attempts", &c.max_attempts, {1, 100}, {"DAYBREAK_MAX_ATTEMPTS"})
      .Double("retry.backoff_initial_s", &c.backoff_initial_s, {0}, {"DAYBREAK_BACKOFF_INITIAL_S"})
      .Double("retry.backoff_max_s", &c.backoff_max_s, {0}, {"DAYBREAK_BACKOFF_MAX_S"})
      .String("retry.retry_on", &c.retry_on, {"DAYBREAK_RETRY_ON"});
  k.String("broker.http_listen", &c.http_listen, {"DAYBREAK_HTTP_LISTEN"})
      .Secret("broker.http_operator_token", &c.http_operator_token, {"DAYBREAK_HTTP_OPERATOR_TOKEN"})
      .Secret("broker.http_read_token", &c.http_read_token, {"DAYBREAK_HTTP_READ_TOKEN"})
      .List("broker.http_tokens", &c.http_tokens, {"DAYBREAK_HTTP_TOKENS"})
      .Bool("broker.sync_writes", &c.sync_writes, {"DAYBREAK_SYNC_WRITES"})
      .Int("broker.min_free_mb", &c.min_free_mb, {0, kIntMax}, {"DAYBREAK_MIN_FREE_MB"})
      .Int("broker.heartbeat_ms", &c.heartbeat_ms, {10, kIntMax}, {"DAYBREAK_HEARTBEAT_MS"})
      .Int("broker.heartbeat_liveness", &c.heartbeat_liveness, {2, kIntMax}, {"DAYBREAK_HEARTBEAT_LIVENESS"})
      .Int("broker.dispatch_timeout_s", &c.dispatch_timeout_s, {1, kIntMax}, {"DAYBREAK_DISPATCH_TIMEOUT_S"})
      .Int("broker.lease_ms", &c.lease_ms, {0, kIntMax}, {"DAYBREAK_LEASE_MS"})
      .Int("broker.lease_grace_ms", &c.lease_grace_ms, {0, kIntMax}, {"DAYBREAK_LEASE_GRACE_MS"})
      .Int("broker.failure_alert_threshold", &c.failure_alert_threshold, {1, kIntMax},
           {"DAYBREAK_FAILURE_ALERT_THRESHOLD"})
      .Double("broker.no_success_alert_h", &c.no_success_alert_h, {0}, {"DAYBREAK_NO_SUCCESS_ALERT_H"})
      .Int("broker.event_retention_days", &c.event_retention_days, {0, kIntMax},
           {"DAYBREAK_EVENT_RETENTION_DAYS"})
      .Int("broker.run_retention_days", &c.run_retention_days, {0, kIntMax},
           {"DAYBREAK_RUN_RETENTION_DAYS"})
      .String("broker.archive_dir", &c.archive_dir, {"DAYBREAK_ARCHIVE_DIR"});
  k.String("backup.dir", &c.backup_dir, {"DAYBREAK_BACKUP_DIR"})
      .Double("backup.every_h", &c.backup_every_h, {0}, {"DAYBREAK_BACKUP_EVERY_H"})
      .Int("backup.keep", &c.backup_keep, {0, 100000}, {"DAYBREAK_BACKUP_KEEP"});
  k.String("deployment.id", &c.deployment_id, {"DAYBREAK_DEPLOYMENT_ID"});
  k.String("runner.runner_id", &c.runner_id, {"DAYBREAK_RUNNER_ID"})
      .Int("runner.slots", &c.slots, {1, 1024}, {"DAYBREAK_SLOTS"})
      .List("runner.pipeline_command", &c.pipeline_command, {"DAYBREAK_PIPELINE_COMMAND"})
      .Int("runner.run_timeout_s", &c.run_timeout_s, {1, kIntMax}, {"DAYBREAK_RUN_TIMEOUT_S"})
      .Int("runner.kill_grace_s", &c.kill_grace_s, {0, kIntMax}, {"DAYBREAK_KILL_GRACE_S"})
      .Int("runner.drain_timeout_s", &c.drain_timeout_s, {0, kIntMax}, {"DAYBREAK_DRAIN_TIMEOUT_S"})
      .String("runner.isolation", &c.isolation, {"DAYBREAK_ISOLATION"})
      .List("runner.sandbox_read", &c.sandbox_read, {"DAYBREAK_SANDBOX_READ"})
      .List("runner.sandbox_write", &c.sandbox_write, {"DAYBREAK_SANDBOX_WRITE"})
      .Int("runner.memory_max_mb", &c.memory_max_mb, {0, 1 << 24}, {"DAYBREAK_MEMORY_MAX_MB"})
      .Double("runner.cpu_max", &c.cpu_max, {0, 1024}, {"DAYBREAK_CPU_MAX"})
      .String("runner.metrics_listen", &c.runner_metrics_listen, {"DAYBREAK_RUNNER_METRICS_LISTEN"})
      .List("runner.pass_env", &c.pass_env, {"DAYBREAK_PASS_ENV"})
      .String("runner.run_as_user", &c.run_as_user, {"DAYBREAK_RUN_AS_USER"})
      .Int("runner.team_uid_base", &c.team_uid_base, {0, 2'000'000'000}, {"DAYBREAK_TEAM_UID_BASE"});
  k.String("log.level", &c.log_level, {"DAYBREAK_LOG_LEVEL"});
  k.Bool("security.curve_enabled", &c.curve_enabled, {"DAYBREAK_CURVE_ENABLED"})
      .String("security.broker_public_key", &c.broker_public_key, {"DAYBREAK_BROKER_PUBLIC_KEY"})
      .Secret("security.broker_secret_key", &c.broker_secret_key, {"DAYBREAK_BROKER_SECRET_KEY"})
      .String("security.client_public_key", &c.client_public_key, {"DAYBREAK_CLIENT_PUBLIC_KEY"})
      .Secret("security.client_secret_key", &c.client_secret_key, {"DAYBREAK_CLIENT_SECRET_KEY"})
      .List("security.runner_keys", &c.runner_keys, {"DAYBREAK_RUNNER_KEYS"})
      .List("security.publisher_keys", &c.publisher_keys, {"DAYBREAK_PUBLISHER_KEYS"})
      .List("security.client_keys", &c.client_keys, {"DAYBREAK_CLIENT_KEYS"})
      .List("security.authorized_clients", &c.authorized_clients, {"DAYBREAK_AUTHORIZED_CLIENTS"});
  k.Int64("testing.wall_clock_offset_ms", &c.wall_clock_offset_ms, {}, {"DAYBREAK_WALL_CLOCK_OFFSET_MS"});
  return k;
}

Status ApplyFile(const std::string& path, KeySet& keys) {
  auto root = ParseTomlFile(path);
  if (!root.ok()) return root.status();
  // Settings live in [sections]; a bare key at the top is a misplaced one.
  for (const auto& [section, node] : root.value()) {
    if (!node.is_table()) return Bad(path, "\"" + std::string(section.str()) + "\" must be a [section]");
  }
  // notifier/notifier_config.cc reads [notifier], with the same KeySet rules.
  if (Status s = keys.ApplyToml(root.value(), "", {"notifier"}); !s.ok()) return Bad(path, s.message());
  return Status();
}

template <typename List>
std::string Alternatives(const List& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : " or ") + std::string(w);
  return out;
}

}  // namespace

Result<Config> LoadConfig(const std::string& path, const Getenv& getenv) {
  Config config;
  KeySet keys = Keys(config);
  if (!path.empty()) {
    if (Status s = ApplyFile(path, keys); !s.ok()) return s;
  }
  if (Status s = keys.ApplyEnv(getenv); !s.ok()) return s;
  if (Status s = ValidateConfig(config); !s.ok()) return s;
  return config;
}

KeySet ConfigKeys(Config& config) { return Keys(config); }

std::string MachineZoneName() {
  try {
    return std::string(date::current_zone()->name());
  } catch (const std::exception&) {  // no /etc/localtime, or an odd one
    return "UTC";
  }
}

Status ValidateConfig(const Config& c) {
  Config copy = c;  // Keys binds to fields; the ranges are checked on the copy
  if (Status s = Keys(copy).CheckRanges(); !s.ok()) return s;
  if (auto t = ParseTimeOfDay(c.daily_run_time); !t.ok()) return Bad("schedule.daily_run_time", t.status().message());
  if (!c.timezone.empty()) {
    if (auto z = FindZone(c.timezone); !z.ok()) return Bad("schedule.timezone", z.status().message());
  }
  if (auto w = ParseWeekday(c.purchase_weekday); !w.ok()) return Bad("schedule.purchase_weekday", w.status().message());
  if (!schemas::IsOneOf(c.overlap, schemas::overlap::kAll)) {
    return Bad("schedule.overlap", "\"" + c.overlap + "\" is not " + Alternatives(schemas::overlap::kAll));
  }
  if (!schemas::IsOneOf(c.retry_on, schemas::retry_on::kAll)) {
    return Bad("retry.retry_on", "\"" + c.retry_on + "\" is not " + Alternatives(schemas::retry_on::kAll));
  }
  if (!schemas::IsOneOf(c.isolation, schemas::isolation::kAll)) {
    return Bad("runner.isolation", "\"" + c.isolation + "\" is not " + Alternatives(schemas::isolation::kAll));
  }
  for (const auto& [key, paths] : {std::pair{"runner.sandbox_read", &c.sandbox_read},
                                   std::pair{"runner.sandbox_write", &c.sandbox_write}}) {
    for (const std::string& path : *paths) {
      if (!path.starts_with("/")) return Bad(key, "\"" + path + "\" is not an absolute path");
    }
  }
  // Renewals ride on the broker's heartbeats: a lease shorter than two of
  // them would lapse between beats.
  if (c.lease_ms != 0 && c.lease_ms < 2LL * c.heartbeat_ms) {
    return Bad("broker.lease_ms", "must be 0 (heartbeat_ms x heartbeat_liveness) or at least 2 x heartbeat_ms (" +
                                      std::to_string(2LL * c.heartbeat_ms) + ")");
  }
  if (c.backoff_max_s < c.backoff_initial_s) return Bad("retry.backoff_max_s", "must be >= backoff_initial_s >= 0");
  // A guessable token is no lock; the value itself is never in the error.
  for (const auto& [key, token] : {std::pair{"broker.http_operator_token", &c.http_operator_token},
                                   std::pair{"broker.http_read_token", &c.http_read_token}}) {
    if (!token->empty() && token->size() < 16) return Bad(key, "must be at least 16 characters");
  }
  if (!c.http_read_token.empty() && c.http_read_token == c.http_operator_token) {
    return Bad("broker.http_read_token", "must differ from broker.http_operator_token");
  }
  for (const std::string* e : {&c.bus_publish, &c.bus_subscribe, &c.control, &c.work}) {
    if (e->find("://") == std::string::npos) return Bad("endpoints", "\"" + *e + "\" is not a ZeroMQ endpoint like tcp://127.0.0.1:7401");
  }
  return Status();
}

}  // namespace common
