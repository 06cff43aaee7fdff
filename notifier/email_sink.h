// EmailSink: one plain-text mail per event over SMTP (libcurl), to a fixed
// list of recipients, with a subject people can filter on.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "notifier/http_client.h"
#include "notifier/sink.h"

namespace notifier {

class EmailSink final : public Sink {
 public:
  // `stop` (may be null) aborts a send in progress; it must outlive the sink.
  EmailSink(std::string name, MailSettings mail, std::vector<std::string> to,
            std::chrono::milliseconds timeout, const std::atomic<bool>* stop);
  std::string name() const override { return name_; }
  Attempt Deliver(const Notification& n) override;

 private:
  std::string name_;
  MailSettings mail_;
  std::vector<std::string> to_;
  CurlClient client_;
};

// "[daybreak] team 2 run r0000000007 failed", "[daybreak] general run ...
// completed", "[daybreak] team 2 alert consecutive_failures".
std::string EmailSubject(const Notification& n);
// The whole message: headers (From, To, Subject, Date, Message-ID with the
// seq, X-Daybreak-Event-Id) and a plain-text body, with CRLF line ends.
std::string EmailMessage(const Notification& n, const std::string& from,
                         const std::vector<std::string>& to);

}  // namespace notifier
