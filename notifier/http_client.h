// CurlClient: the notifier's one door to libcurl, for HTTP POSTs (Slack and
// webhooks) and SMTP mail. Each instance owns one easy handle, so it keeps
// connections alive between calls; use one per thread.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace notifier {

struct HttpResponse {
  long status = 0;  // 0: no HTTP answer at all (see `error`)
  std::string error;  // transport error; empty when the server answered
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After
  std::string body;  // the first 4 KiB
};

struct MailSettings {
  std::string url;  // smtp://host:port or smtps://host:port
  bool starttls = false;  // require STARTTLS on smtp://
  std::string username;
  std::string password;
  std::string ca_file;  // empty: the system's CA store
  std::string from;
};

class CurlClient {
 public:
  // `stop`, when given, aborts a transfer in progress once it becomes true;
  // it must outlive the client.
  explicit CurlClient(std::chrono::milliseconds timeout, const std::atomic<bool>* stop = nullptr);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  // POSTs `body`; `headers` are full lines like "X-Daybreak-Event-Id: 7".
  HttpResponse Post(const std::string& url, const std::string& content_type,
                    const std::string& body, const std::vector<std::string>& headers = {});

  // Sends one message (headers and body, CRLF lines) to `recipients`.
  // kIoError for failures worth retrying, kRejected for a refusal (5xx).
  common::Status SendMail(const MailSettings& mail, const std::vector<std::string>& recipients,
                          const std::string& message);

 private:
  void Reset();
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>* stop_;
};

// What an HTTP answer means for delivery: 2xx delivered; 408, 425, 429 and
// 5xx (and no answer at all) worth retrying, with the server's Retry-After;
// any other status is a permanent refusal (a wrong URL, a rejected body).
struct Attempt;
Attempt AttemptFromHttp(const HttpResponse& response);

// Call once before starting threads that use CurlClient (curl_global_init).
void InitCurl();

// Checks that `url` parses and has one of `schemes` and a host; the error
// says what is wrong with it, for the start-up message.
common::Status CheckUrl(const std::string& url, const std::vector<std::string>& schemes);

// A plain mailbox: local@domain, printable ASCII, no spaces or <>.
common::Status CheckMailbox(const std::string& address);

}  // namespace notifier
