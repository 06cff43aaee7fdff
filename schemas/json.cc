#include "schemas/json.h"

#include <date/date.h>

#include <chrono>

#include "schemas/codec.h"
#include "schemas/topics.h"

namespace schemas {

namespace {

// "2026-12-03T14:47:09.123Z" for a time that is set, null for one that is
// not (0): readable beside the _unix_ms field scripts compute with.
nlohmann::json Utc(std::int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  return date::format("%FT%TZ", date::sys_time<std::chrono::milliseconds>(
                                    std::chrono::milliseconds(unix_ms)));
}

// A figure the record holds as -1 while it is unknown: null in JSON.
nlohmann::json Known(std::int64_t value) { return value < 0 ? nlohmann::json(nullptr) : nlohmann::json(value); }

}  // namespace

nlohmann::json ToJson(const RunRecord& r) {
  nlohmann::json j = {
      {"run_id", r.run_id}, {"key", r.key}, {"team", r.team}, {"kind", r.kind},
      {"state", std::string(Name(r.state))}, {"pdate", r.pdate}, {"local_date", r.local_date},
      {"fire_unix_ms", r.fire_unix_ms}, {"accepted_unix_ms", r.accepted_unix_ms},
      {"started_unix_ms", r.started_unix_ms}, {"finished_unix_ms", r.finished_unix_ms},
      {"next_attempt_unix_ms", r.next_attempt_unix_ms}, {"attempt", r.attempt},
      {"max_attempts", r.max_attempts}, {"runner_id", r.runner_id}, {"exit_code", Known(r.exit_code)},
      {"error", r.error}, {"total_loans", Known(r.total_loans)},
      {"exceptions_count", Known(r.exceptions_count)}, {"metrics", r.metrics},
      {"log_path", r.log_path}, {"requested_by", r.requested_by},
      {"stderr_tail", r.stderr_tail}, {"inputs", r.inputs}, {"archived", r.archived},
      {"lock_held_until_unix_ms", r.lock_held_until_unix_ms},
      {"fire_utc", Utc(r.fire_unix_ms)}, {"accepted_utc", Utc(r.accepted_unix_ms)},
      {"started_utc", Utc(r.started_unix_ms)}, {"finished_utc", Utc(r.finished_unix_ms)},
      {"next_attempt_utc", Utc(r.next_attempt_unix_ms)}};
  return j;
}

nlohmann::json ToJson(const RunEvent& e) {
  return {{"seq", e.seq},
          {"incarnation", e.incarnation},
          {"event", e.event},
          {"at_unix_ms", e.at_unix_ms},
          {"at_utc", Utc(e.at_unix_ms)},
          {"run", ToJson(e.run)}};
}

nlohmann::json ToJson(const AlertEvent& a) {
  return {{"seq", a.seq},       {"kind", a.kind},       {"team", a.team},
          {"count", a.count},   {"run_id", a.run_id},   {"message", a.message},
          {"at_unix_ms", a.at_unix_ms}, {"at_utc", Utc(a.at_unix_ms)}, {"incarnation", a.incarnation}};
}

nlohmann::json ToJson(const RunnerSummary& r) {
  return {{"runner_id", r.runner_id}, {"slots", r.slots}, {"runs", r.runs},
          {"last_seen_ms_ago", r.last_seen_ms_ago}};
}

nlohmann::json ToJson(const TeamRecord& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"run_time", t.run_time},
          {"timezone", t.timezone},
          {"paused", t.paused},
          {"overlap", t.overlap},
          {"command", t.command},
          {"max_attempts", t.max_attempts},
          {"timeout_s", t.timeout_s},
          {"retry_on", t.retry_on},
          {"backoff_initial_s", t.backoff_initial_s},
          {"backoff_max_s", t.backoff_max_s},
          {"after", t.after},
          {"network", t.network},
          {"memory_mb", t.memory_mb},
          {"env", t.env},
          {"created_unix_ms", t.created_unix_ms},
          {"created_utc", Utc(t.created_unix_ms)}};
}

nlohmann::json ToJson(const DeadLetter& d) {
  return {{"sink", d.sink},         {"seq", d.seq},
          {"topic", d.topic},       {"run_id", d.run_id},
          {"team", d.team},         {"attempts", d.attempts},
          {"reason", d.reason},     {"failed_unix_ms", d.failed_unix_ms},
          {"failed_utc", Utc(d.failed_unix_ms)}, {"redeliver", d.redeliver}};
}

common::Result<nlohmann::json> BusFrameToJson(std::string_view topic, std::string_view payload) {
  nlohmann::json j;
  if (topic.starts_with(topic::kRunPrefix)) {
    auto e = DecodeRunEvent(payload);
    if (!e.ok()) return e.status();
    j = ToJson(e.value());
  } else if (topic.starts_with(topic::kAlertPrefix)) {
    auto a = DecodeAlertEvent(payload);
    if (!a.ok()) return a.status();
    j = ToJson(a.value());
  } else if (topic == topic::kDueAck) {
    auto a = DecodeDueAck(payload);
    if (!a.ok()) return a.status();
    j = {{"key", a.value().key}, {"run_id", a.value().run_id},
         {"duplicate", a.value().duplicate}, {"error", a.value().error}};
  } else if (topic == topic::kDue) {
    auto d = DecodeDueEvent(payload);
    if (!d.ok()) return d.status();
    j = {{"key", d.value().key}, {"team", d.value().team}, {"kind", d.value().kind},
         {"fire_unix_ms", d.value().fire_unix_ms}, {"local_date", d.value().local_date},
         {"pdate", d.value().pdate}};
  } else if (topic == topic::kScheduleChanged) {
    auto c = DecodeScheduleChanged(payload);
    if (!c.ok()) return c.status();
    j = {{"team", c.value().team}, {"change", c.value().change}};
  } else {
    return common::Status::Error(common::Code::kRejected, "unknown topic " + std::string(topic));
  }
  j["topic"] = std::string(topic);
  return j;
}

}  // namespace schemas
