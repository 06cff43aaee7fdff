#include "notifier/webhook_sink.h"

#include "notifier/url_sink_kind.h"
#include "schemas/json.h"

namespace notifier {

std::string WebhookBody(const Notification& n) {
  nlohmann::json j = n.is_alert ? schemas::ToJson(n.alert) : schemas::ToJson(n.run);
  j["topic"] = n.topic;
  // Unique for good, so a receiver can drop a redelivery; seqs alone repeat
  // after a store restore or an accepted data loss.
  j["event_id"] = n.event_id();
  j["seq"] = n.seq;  // a replayed event carries the log's seq
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

WebhookSink::WebhookSink(std::string name, std::string url, std::chrono::milliseconds timeout,
                         const std::atomic<bool>* stop)
    : name_(std::move(name)), url_(std::move(url)), client_(timeout, stop) {}

Attempt WebhookSink::Deliver(const Notification& n) {
  return AttemptFromHttp(client_.Post(url_, "application/json", WebhookBody(n),
                                      {"X-Daybreak-Event-Id: " + n.event_id(),
                                       "X-Daybreak-Topic: " + n.topic}));
}

// The descriptor sink_registry.cc lists: [notifier.webhook] url and events.
std::unique_ptr<SinkKind> NewWebhookKind() {
  return std::make_unique<UrlSinkKind>(
      "webhook", "DAYBREAK_WEBHOOK_URL", "DAYBREAK_WEBHOOK_EVENTS", std::vector<std::string>{"*"},
      [](const std::string& queue, const std::string& url, const SinkContext& c) {
        return std::make_unique<WebhookSink>(queue, url, c.timeout, c.abort);
      });
}

}  // namespace notifier
