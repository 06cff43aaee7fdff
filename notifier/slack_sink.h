// SlackSink: posts a readable message to a Slack-compatible incoming webhook
// ({"text": ...}; Mattermost and Rocket.Chat accept the same).
#pragma once

#include <chrono>
#include <string>

#include "notifier/http_client.h"
#include "notifier/sink.h"

namespace notifier {

class SlackSink final : public Sink {
 public:
  // `stop` (may be null) aborts a post in progress; it must outlive the sink.
  SlackSink(std::string name, std::string url, std::chrono::milliseconds timeout,
            const std::atomic<bool>* stop);
  std::string name() const override { return name_; }
  Attempt Deliver(const Notification& n) override;

 private:
  std::string name_;
  std::string url_;
  CurlClient client_;
};

// The message text (Slack mrkdwn): a headline with team, run and state, then
// pdate, attempt, loans, exceptions, duration and error as known.
std::string SlackText(const Notification& n);
// The request body: {"text": SlackText(n)}.
std::string SlackBody(const Notification& n);

}  // namespace notifier
