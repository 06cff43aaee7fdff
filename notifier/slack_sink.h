// SlackSink: posts a readable message to a Slack-compatible incoming webhook
// in Block Kit, with the plain "text" fallback that Mattermost and
// Rocket.Chat (and Slack's notifications) show.
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
            const std::atomic<bool>* stop, std::string public_url = "");
  std::string name() const override { return name_; }
  Attempt Deliver(const Notification& n) override;

 private:
  std::string name_;
  std::string url_;
  std::string public_url_;
  CurlClient client_;
};

// The message text (Slack mrkdwn): a headline with team, run and state, then
// pdate, attempt, loans, exceptions, duration and error as known.
std::string SlackText(const Notification& n);
// The request body in Block Kit: a header, the figures as fields, the
// reason (the stderr tail) of a failure, and with `public_url` a button to
// the run's page on the dashboard (<public_url>/#run=<id>); "text" is
// SlackText(n), what notifications and clients without blocks show.
std::string SlackBody(const Notification& n, const std::string& public_url = "");

}  // namespace notifier
