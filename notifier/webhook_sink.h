// WebhookSink: posts each event as JSON to a generic HTTP endpoint, with an
// event id (the broker's seq) so the receiver can drop repeats.
#pragma once

#include <chrono>
#include <string>

#include "notifier/http_client.h"
#include "notifier/sink.h"

namespace notifier {

class WebhookSink final : public Sink {
 public:
  // `stop` (may be null) aborts a post in progress; it must outlive the sink.
  WebhookSink(std::string name, std::string url, std::chrono::milliseconds timeout,
              const std::atomic<bool>* stop);
  std::string name() const override { return name_; }
  Attempt Deliver(const Notification& n) override;

 private:
  std::string name_;
  std::string url_;
  CurlClient client_;
};

// schemas::ToJson of the event plus "topic" and "event_id" (= seq).
std::string WebhookBody(const Notification& n);

}  // namespace notifier
