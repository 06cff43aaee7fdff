#include "notifier/slack_sink.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/team.h"
#include "common/text.h"
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

namespace {

using nlohmann::json;

// Slack's limits: a header's text 150 characters, a field 2000, a section 3000.
std::string Cut(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  return common::Head(text, max - 3) + "...";  // whole characters
}

json Field(const std::string& name, const std::string& value) {
  return {{"type", "mrkdwn"}, {"text", Cut("*" + name + "*\n" + value, 2000)}};
}

json Header(const std::string& text) {
  return {{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", Cut(text, 150)}, {"emoji", true}}}};
}

std::string Link(const std::string& public_url, const std::string& fragment) {
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/#" + fragment;
}

json RunBlocks(const Notification& n, const std::string& public_url) {
  const schemas::RunRecord& r = n.run.run;
  json blocks = json::array();
  blocks.push_back(Header(std::string(Icon(n)) + " " + common::TeamLabel(r.team) + " run " +
                          r.run_id + " " + n.run.event));
  json fields = json::array();
  fields.push_back(Field("State", std::string(schemas::Name(r.state))));
  fields.push_back(Field("Pdate", r.pdate.empty() ? "-" : r.pdate));
  fields.push_back(Field("Attempt", std::to_string(r.attempt) +
                                        (r.max_attempts > 0 ? " of " + std::to_string(r.max_attempts) : "")));
  fields.push_back(Field("Loans / exceptions", Count(r.total_loans) + " / " + Count(r.exceptions_count)));
  if (const double d = RunDurationSeconds(r); d >= 0) fields.push_back(Field("Duration", fmt::format("{:.1f} s", d)));
  if (!r.error.empty()) fields.push_back(Field("Error", Escape(r.error)));
  blocks.push_back({{"type", "section"}, {"fields", fields}});
  if (!r.stderr_tail.empty() && r.state != schemas::RunState::kSucceeded) {
    std::string tail = Escape(r.stderr_tail);
    for (std::size_t at; (at = tail.find("```")) != std::string::npos;) tail.replace(at, 3, "` ` `");
    // The end is what explains a failure: keep it when the tail is long.
    if (tail.size() > 2900) tail = "..." + common::Tail(tail, 2897);
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "*Reason*\n```" + tail + "```"}}}});
  }
  if (!public_url.empty()) {
    blocks.push_back({{"type", "actions"},
                      {"elements", json::array({{{"type", "button"},
                                                 {"text", {{"type", "plain_text"}, {"text", "Open the run"}}},
                                                 {"url", Link(public_url, "run=" + r.run_id)}}})}});
  }
  return blocks;
}

json AlertBlocks(const Notification& n, const std::string& public_url) {
  const schemas::AlertEvent& a = n.alert;
  json blocks = json::array();
  blocks.push_back(Header(std::string(Icon(n)) + " Daybreak alert: " + a.kind + " for " +
                          common::TeamLabel(a.team)));
  blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", Cut(Escape(a.message), 3000)}}}});
  json fields = json::array();
  if (!a.run_id.empty()) fields.push_back(Field("Run", "`" + a.run_id + "`"));
  if (a.count > 0) fields.push_back(Field("Failures in a row", std::to_string(a.count)));
  if (!fields.empty()) blocks.push_back({{"type", "section"}, {"fields", fields}});
  if (!public_url.empty()) {
    const std::string fragment = a.run_id.empty() ? "team=" + std::to_string(a.team) : "run=" + a.run_id;
    blocks.push_back({{"type", "actions"},
                      {"elements", json::array({{{"type", "button"},
                                                 {"text", {{"type", "plain_text"}, {"text", "Open in Daybreak"}}},
                                                 {"url", Link(public_url, fragment)}}})}});
  }
  return blocks;
}

}  // namespace

std::string SlackBody(const Notification& n, const std::string& public_url) {
  const json body = {{"text", SlackText(n)},
                     {"blocks", n.is_alert ? AlertBlocks(n, public_url) : RunBlocks(n, public_url)}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

SlackSink::SlackSink(std::string name, std::string url, std::chrono::milliseconds timeout,
                     const std::atomic<bool>* stop, std::string public_url)
    : name_(std::move(name)), url_(std::move(url)), public_url_(std::move(public_url)),
      client_(timeout, stop) {}

Attempt SlackSink::Deliver(const Notification& n) {
  return AttemptFromHttp(client_.Post(url_, "application/json", SlackBody(n, public_url_),
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
        return std::make_unique<SlackSink>(queue, url, c.timeout, c.abort, c.public_url);
      });
}

}  // namespace notifier
