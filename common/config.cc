#include "common/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>

#include "common/schedule.h"
#include "common/toml_util.h"

namespace common {
namespace {

// One configurable value: where it lives in TOML, which environment
// variables override it, and how to set it from either source.
struct Key {
  std::string section;
  std::string name;
  std::vector<std::string> env;
  std::function<Status(const toml::node&)> from_toml;
  std::function<Status(std::string_view)> from_text;
};

Status Bad(const std::string& where, const std::string& what) {
  return Status::Error(Code::kInvalid, where + ": " + what);
}

template <typename T>
Status ParseNumber(std::string_view text, T* out) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Error(Code::kInvalid,
                         "\"" + std::string(text) + "\" is not a number");
  }
  *out = value;
  return Status();
}

Key String(std::string section, std::string name, std::string* field,
           std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) {
            if (!n.is_string()) return Status::Error(Code::kInvalid, "must be a string");
            *field = *n.value<std::string>();
            return Status();
          },
          [field](std::string_view t) {
            *field = std::string(t);
            return Status();
          }};
}

Key Int(std::string section, std::string name, int* field,
        std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) {
            if (!n.is_integer()) return Status::Error(Code::kInvalid, "must be an integer");
            const std::int64_t v = *n.value<std::int64_t>();
            if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
              return Status::Error(Code::kInvalid, std::to_string(v) + " is out of range");
            }
            *field = static_cast<int>(v);
            return Status();
          },
          [field](std::string_view t) { return ParseNumber(t, field); }};
}

Key Int64(std::string section, std::string name, std::int64_t* field,
          std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) {
            if (!n.is_integer()) return Status::Error(Code::kInvalid, "must be an integer");
            *field = *n.value<std::int64_t>();
            return Status();
          },
          [field](std::string_view t) { return ParseNumber(t, field); }};
}

Key Double(std::string section, std::string name, double* field,
           std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) {
            if (!n.is_number()) return Status::Error(Code::kInvalid, "must be a number");
            *field = *n.value<double>();
            return Status();
          },
          [field](std::string_view t) { return ParseNumber(t, field); }};
}

Key Bool(std::string section, std::string name, bool* field,
         std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) {
            if (!n.is_boolean()) return Status::Error(Code::kInvalid, "must be true or false");
            *field = *n.value<bool>();
            return Status();
          },
          [field](std::string_view t) {
            if (t == "true" || t == "1" || t == "yes") *field = true;
            else if (t == "false" || t == "0" || t == "no") *field = false;
            else return Status::Error(Code::kInvalid, "\"" + std::string(t) + "\" is not true or false");
            return Status();
          }};
}

Key StringList(std::string section, std::string name,
               std::vector<std::string>* field,
               std::vector<std::string> env = {}) {
  return {section, name, env,
          [field](const toml::node& n) { return ReadStringArray(n, field); },
          [field](std::string_view t) {  // whitespace-separated words
            std::istringstream in{std::string(t)};
            std::vector<std::string> out;
            for (std::string word; in >> word;) out.push_back(word);
            *field = std::move(out);
            return Status();
          }};
}

std::vector<Key> Keys(Config& c) {
  return {
      String("endpoints", "bus_publish", &c.bus_publish, {"DAYBREAK_BUS_PUBLISH"}),
      String("endpoints", "bus_subscribe", &c.bus_subscribe, {"DAYBREAK_BUS_SUBSCRIBE"}),
      String("endpoints", "control", &c.control, {"DAYBREAK_CONTROL"}),
      String("endpoints", "work", &c.work, {"DAYBREAK_WORK"}),
      Bool("schedule", "enable_scheduler", &c.enable_scheduler, {"ENABLE_SCHEDULER", "DAYBREAK_ENABLE_SCHEDULER"}),
      String("schedule", "daily_run_time", &c.daily_run_time, {"DAILY_RUN_TIME", "DAYBREAK_DAILY_RUN_TIME"}),
      String("schedule", "timezone", &c.timezone, {"TIMEZONE", "DAYBREAK_TIMEZONE"}),
      Int("schedule", "misfire_grace_s", &c.misfire_grace_s, {"MISFIRE_GRACE", "DAYBREAK_MISFIRE_GRACE"}),
      String("schedule", "purchase_weekday", &c.purchase_weekday, {"DAYBREAK_PURCHASE_WEEKDAY"}),
      String("schedule", "overlap", &c.overlap, {"DAYBREAK_OVERLAP"}),
      Int("schedule", "max_backfill_days", &c.max_backfill_days, {"DAYBREAK_MAX_BACKFILL_DAYS"}),
      String("paths", "input_dir", &c.input_dir, {"INPUT_DIR", "DAYBREAK_INPUT_DIR_ROOT"}),
      String("paths", "output_dir", &c.output_dir, {"OUTPUT_DIR", "DAYBREAK_OUTPUT_DIR_ROOT"}),
      String("paths", "state_dir", &c.state_dir, {"DAYBREAK_STATE_DIR"}),
      String("paths", "log_dir", &c.log_dir, {"DAYBREAK_LOG_DIR"}),
      Int("retry", "max_attempts", &c.max_attempts, {"DAYBREAK_MAX_ATTEMPTS"}),
      Double("retry", "backoff_initial_s", &c.backoff_initial_s, {"DAYBREAK_BACKOFF_INITIAL_S"}),
      Double("retry", "backoff_max_s", &c.backoff_max_s, {"DAYBREAK_BACKOFF_MAX_S"}),
      String("retry", "retry_on", &c.retry_on, {"DAYBREAK_RETRY_ON"}),
      String("broker", "http_listen", &c.http_listen, {"DAYBREAK_HTTP_LISTEN"}),
      Bool("broker", "sync_writes", &c.sync_writes, {"DAYBREAK_SYNC_WRITES"}),
      Int("broker", "heartbeat_ms", &c.heartbeat_ms, {"DAYBREAK_HEARTBEAT_MS"}),
      Int("broker", "heartbeat_liveness", &c.heartbeat_liveness, {"DAYBREAK_HEARTBEAT_LIVENESS"}),
      Int("broker", "failure_alert_threshold", &c.failure_alert_threshold, {"DAYBREAK_FAILURE_ALERT_THRESHOLD"}),
      Double("broker", "no_success_alert_h", &c.no_success_alert_h, {"DAYBREAK_NO_SUCCESS_ALERT_H"}),
      Int("broker", "event_retention_days", &c.event_retention_days, {"DAYBREAK_EVENT_RETENTION_DAYS"}),
      String("runner", "runner_id", &c.runner_id, {"DAYBREAK_RUNNER_ID"}),
      Int("runner", "slots", &c.slots, {"DAYBREAK_SLOTS"}),
      StringList("runner", "pipeline_command", &c.pipeline_command, {"DAYBREAK_PIPELINE_COMMAND"}),
      Int("runner", "run_timeout_s", &c.run_timeout_s, {"DAYBREAK_RUN_TIMEOUT_S"}),
      Int("runner", "kill_grace_s", &c.kill_grace_s, {"DAYBREAK_KILL_GRACE_S"}),
      Int("runner", "drain_timeout_s", &c.drain_timeout_s, {"DAYBREAK_DRAIN_TIMEOUT_S"}),
      String("log", "level", &c.log_level, {"DAYBREAK_LOG_LEVEL"}),
      Bool("security", "curve_enabled", &c.curve_enabled, {"DAYBREAK_CURVE_ENABLED"}),
      String("security", "broker_public_key", &c.broker_public_key, {"DAYBREAK_BROKER_PUBLIC_KEY"}),
      String("security", "broker_secret_key", &c.broker_secret_key, {"DAYBREAK_BROKER_SECRET_KEY"}),
      String("security", "client_public_key", &c.client_public_key, {"DAYBREAK_CLIENT_PUBLIC_KEY"}),
      String("security", "client_secret_key", &c.client_secret_key, {"DAYBREAK_CLIENT_SECRET_KEY"}),
      StringList("security", "authorized_clients", &c.authorized_clients, {"DAYBREAK_AUTHORIZED_CLIENTS"}),
      Int64("testing", "wall_clock_offset_ms", &c.wall_clock_offset_ms, {"DAYBREAK_WALL_CLOCK_OFFSET_MS"}),
  };
}

Status ApplyToml(const std::string& path, std::vector<Key>& keys) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << path << ":" << e.source().begin.line << ":" << e.source().begin.column;
    return Bad(where.str(), std::string(e.description()));
  }
  std::map<std::string, Key*> by_name;
  for (Key& k : keys) by_name[k.section + "." + k.name] = &k;
  for (const auto& [section, node] : root) {
    if (section.str() == "notifier") continue;  // notifier/notifier_config.cc reads it
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return Bad(path, "\"" + std::string(section.str()) + "\" must be a [section]");
    }
    for (const auto& [name, value] : *table) {
      const std::string full = std::string(section.str()) + "." + std::string(name.str());
      auto it = by_name.find(full);
      if (it == by_name.end()) return Bad(path, "unknown key " + full);
      Status s = it->second->from_toml(value);
      if (!s.ok()) return Bad(path + ": " + full, s.message());
    }
  }
  return Status();
}

}  // namespace

Result<Config> LoadConfig(const std::string& path,
                          const std::function<const char*(const char*)>& getenv) {
  Config config;
  std::vector<Key> keys = Keys(config);
  if (!path.empty()) {
    Status s = ApplyToml(path, keys);
    if (!s.ok()) return s;
  }
  for (Key& k : keys) {
    for (const std::string& var : k.env) {
      const char* value = getenv(var.c_str());
      if (value == nullptr) continue;
      Status s = k.from_text(value);
      if (!s.ok()) return Bad("environment " + var, s.message());
    }
  }
  Status s = ValidateConfig(config);
  if (!s.ok()) return s;
  return config;
}

std::string MachineZoneName() {
  try {
    return std::string(date::current_zone()->name());
  } catch (const std::exception&) {  // no /etc/localtime, or an odd one
    return "UTC";
  }
}

Status ValidateConfig(const Config& c) {
  if (auto t = ParseTimeOfDay(c.daily_run_time); !t.ok()) return Bad("schedule.daily_run_time", t.status().message());
  if (!c.timezone.empty()) {
    if (auto z = FindZone(c.timezone); !z.ok()) return Bad("schedule.timezone", z.status().message());
  }
  if (auto w = ParseWeekday(c.purchase_weekday); !w.ok()) return Bad("schedule.purchase_weekday", w.status().message());
  if (c.overlap != "skip" && c.overlap != "queue") return Bad("schedule.overlap", "\"" + c.overlap + "\" is not skip or queue");
  if (c.retry_on != "transient" && c.retry_on != "any") return Bad("retry.retry_on", "\"" + c.retry_on + "\" is not transient or any");
  if (c.max_backfill_days < 1) return Bad("schedule.max_backfill_days", "must be >= 1");
  if (c.misfire_grace_s < 0) return Bad("schedule.misfire_grace_s", "must be >= 0");
  if (c.max_attempts < 1 || c.max_attempts > 100) return Bad("retry.max_attempts", "must be 1-100");
  if (c.backoff_initial_s < 0 || c.backoff_max_s < c.backoff_initial_s) return Bad("retry.backoff_max_s", "must be >= backoff_initial_s >= 0");
  if (c.heartbeat_ms < 10) return Bad("broker.heartbeat_ms", "must be >= 10");
  if (c.heartbeat_liveness < 2) return Bad("broker.heartbeat_liveness", "must be >= 2");
  if (c.no_success_alert_h < 0) return Bad("broker.no_success_alert_h", "must be >= 0");
  if (c.failure_alert_threshold < 1) return Bad("broker.failure_alert_threshold", "must be >= 1");
  if (c.slots < 1 || c.slots > 1024) return Bad("runner.slots", "must be 1-1024");
  if (c.run_timeout_s < 1) return Bad("runner.run_timeout_s", "must be >= 1");
  if (c.kill_grace_s < 0) return Bad("runner.kill_grace_s", "must be >= 0");
  for (const std::string* e : {&c.bus_publish, &c.bus_subscribe, &c.control, &c.work}) {
    if (e->find("://") == std::string::npos) return Bad("endpoints", "\"" + *e + "\" is not a ZeroMQ endpoint like tcp://127.0.0.1:7401");
  }
  return Status();
}

}  // namespace common
