#include "notifier/webhook_sink.h"

#include "schemas/json.h"

namespace notifier {

std::string WebhookBody(const Notification& n) {
  nlohmann::json j = n.is_alert ? schemas::ToJson(n.alert) : schemas::ToJson(n.run);
  j["topic"] = n.topic;
  j["event_id"] = n.seq;
  j["seq"] = n.seq;  // a replayed event carries the log's seq
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

WebhookSink::WebhookSink(std::string name, std::string url, std::chrono::milliseconds timeout,
                         const std::atomic<bool>* stop)
    : name_(std::move(name)), url_(std::move(url)), client_(timeout, stop) {}

Attempt WebhookSink::Deliver(const Notification& n) {
  return AttemptFromHttp(client_.Post(url_, "application/json", WebhookBody(n),
                                      {"X-Daybreak-Event-Id: " + std::to_string(n.seq),
                                       "X-Daybreak-Topic: " + n.topic}));
}

}  // namespace notifier
