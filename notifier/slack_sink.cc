#include "notifier/slack_sink.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/team.h"
#include "notifier/url_sink_kind.h"
#include "schemas/topics.h"

namespace notifier {
namespace {

// Slack treats &, < and > as markup.
std::string Escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '&') out += "&amp;";
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else out += ch;
  }
  return out;
}

const char* Icon(const Notification& n) {
  namespace event = schemas::event;
  if (n.is_alert) return n.alert.kind == schemas::alert::kRecovered ? ":white_check_mark:" : ":rotating_light:";
  const std::string& e = n.run.event;
  if (e == event::kCompleted) return ":white_check_mark:";
  if (e == event::kFailed) return ":x:";
  if (e == event::kMissed || e == event::kSkipped || e == event::kCancelled) return ":warning:";
  if (e == event::kRetrying) return ":repeat:";
  return ":information_source:";
}

std::string Count(std::int64_t v) { return v < 0 ? "unknown" : std::to_string(v); }

}  // namespace

std::string SlackText(const Notification& n) {
  if (n.is_alert) {
    const schemas::AlertEvent& a = n.alert;
    std::string text = fmt::format("{} *Daybreak alert {}* for {}: {}", Icon(n), a.kind,
                                   common::TeamLabel(a.team), Escape(a.message));
    if (!a.run_id.empty()) text += fmt::format("\n• run: `{}`", a.run_id);
    if (a.count > 0) text += fmt::format("\n• failures in a row: {}", a.count);
    return text;
  }
  const schemas::RunRecord& r = n.run.run;
  std::string text = fmt::format("{} *Daybreak {} run `{}` {}* (state {})", Icon(n),
                                 common::TeamLabel(r.team), r.run_id, n.run.event, schemas::Name(r.state));
  text += fmt::format("\n• pdate: {}", r.pdate.empty() ? "-" : r.pdate);
  text += fmt::format("\n• attempt: {}{}", r.attempt,
                      r.max_attempts > 0 ? fmt::format(" of {}", r.max_attempts) : "");
  text += fmt::format("\n• loans: {}, exceptions: {}", Count(r.total_loans), Count(r.exceptions_count));
  if (const double d = RunDurationSeconds(r); d >= 0) text += fmt::format("\n• duration: {:.1f} s", d);
  if (!r.error.empty()) text += fmt::format("\n• error: {}", Escape(r.error));
  if (!r.stderr_tail.empty() && r.state != schemas::RunState::kSucceeded) {
    // A ``` in the tail would end the block early: it is broken up.
    std::string tail = Escape(r.stderr_tail);
    for (std::size_t at; (at = tail.find("```")) != std::string::npos;) tail.replace(at, 3, "` ` `");
    text += fmt::format("\n• reason:\n```{}```", tail);
  }
  return text;
}

std::string SlackBody(const Notification& n) {
  return nlohmann::json{{"text", SlackText(n)}}.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace);
}

SlackSink::SlackSink(std::string name, std::string url, std::chrono::milliseconds timeout,
                     const std::atomic<bool>* stop)
    : name_(std::move(name)), url_(std::move(url)), client_(timeout, stop) {}

Attempt SlackSink::Deliver(const Notification& n) {
  return AttemptFromHttp(client_.Post(url_, "application/json", SlackBody(n),
                                      {"X-Daybreak-Event-Id: " + n.event_id()}));
}

// The descriptor sink_registry.cc lists: [notifier.slack] url and events.
std::unique_ptr<SinkKind> NewSlackKind() {
  return std::make_unique<UrlSinkKind>(
      "slack", "DAYBREAK_SLACK_WEBHOOK_URL", "DAYBREAK_SLACK_EVENTS",
      std::vector<std::string>{schemas::RunTopic(schemas::event::kFailed),
                               schemas::RunTopic(schemas::event::kMissed),
                               std::string(schemas::topic::kAlertPrefix) + "*"},
      [](const std::string& queue, const std::string& url, const SinkContext& c) {
        return std::make_unique<SlackSink>(queue, url, c.timeout, c.abort);
      });
}

}  // namespace notifier
