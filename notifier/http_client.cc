#include "notifier/http_client.h"

#include "notifier/sink.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace notifier {

using common::Code;
using common::Status;

namespace {

CURL* Handle(void* p) { return static_cast<CURL*>(p); }

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (body->size() < 4096) body->append(data, std::min(n, 4096 - body->size()));
  return n;
}

int AbortOnStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* stop = static_cast<const std::atomic<bool>*>(user);
  return stop != nullptr && stop->load() ? 1 : 0;
}

struct Upload {
  const std::string* text;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, up->text->size() - up->offset);
  std::memcpy(buffer, up->text->data() + up->offset, n);
  up->offset += n;
  return n;
}

// Loopback is never proxied: whatever the environment says, a receiver on
// this machine is reached directly.
std::string NoProxy() {
  std::string list = "localhost,127.0.0.1,::1";
  for (const char* var : {"no_proxy", "NO_PROXY"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      list += ",";
      list += v;
      break;
    }
  }
  return list;
}

}  // namespace

void InitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlClient::CurlClient(std::chrono::milliseconds timeout, const std::atomic<bool>* stop)
    : curl_(nullptr), timeout_(timeout), stop_(stop) {
  InitCurl();
  curl_ = curl_easy_init();
}

CurlClient::~CurlClient() { curl_easy_cleanup(Handle(curl_)); }

void CurlClient::Reset() {
  CURL* c = Handle(curl_);
  curl_easy_reset(c);  // keeps live connections, forgets options
  static const std::string no_proxy = NoProxy();
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // we are not the only thread
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &AbortOnStop);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop_);
}

HttpResponse CurlClient::Post(const std::string& url, const std::string& content_type,
                              const std::string& body, const std::vector<std::string>& headers) {
  HttpResponse response;
  CURL* c = Handle(curl_);
  if (c == nullptr) {
    response.error = "curl_easy_init failed";
    return response;
  }
  Reset();
  curl_slist* list = nullptr;
  const std::string type = "Content-Type: " + content_type;
  list = curl_slist_append(list, type.c_str());
  list = curl_slist_append(list, "User-Agent: daybreak-notifier");
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    response.error = curl_easy_strerror(rc);
    return response;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t retry_after = -1;
  // Both forms of the header (seconds or an HTTP date) come back as seconds.
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after >= 0 &&
      (response.status == 429 || response.status == 503)) {
    response.retry_after = std::chrono::seconds(retry_after);
  }
  return response;
}

Status CurlClient::SendMail(const MailSettings& mail, const std::vector<std::string>& recipients,
                            const std::string& message) {
  CURL* c = Handle(curl_);
  if (c == nullptr) return Status::Error(Code::kIoError, "curl_easy_init failed");
  Reset();
  curl_slist* rcpt = nullptr;
  for (const std::string& r : recipients) rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
  const std::string from = "<" + mail.from + ">";
  Upload upload{&message};
  curl_easy_setopt(c, CURLOPT_URL, mail.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  if (mail.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!mail.username.empty()) curl_easy_setopt(c, CURLOPT_USERNAME, mail.username.c_str());
  if (!mail.password.empty()) curl_easy_setopt(c, CURLOPT_PASSWORD, mail.password.c_str());
  if (!mail.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, mail.ca_file.c_str());
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  if (rc == CURLE_OK) return Status();
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  std::string what = curl_easy_strerror(rc);
  if (reply > 0) what += " (SMTP " + std::to_string(reply) + ")";
  // 5xx is the server's final word (unknown mailbox, refused sender, bad
  // login); anything else (no connection, 4xx, timeout) may pass later.
  const bool permanent = (reply >= 500 && reply < 600) || rc == CURLE_LOGIN_DENIED;
  return Status::Error(permanent ? Code::kRejected : Code::kIoError, what);
}

Attempt AttemptFromHttp(const HttpResponse& r) {
  if (r.status == 0) return Attempt::Retry(r.error.empty() ? "no HTTP answer" : r.error);
  if (r.status >= 200 && r.status < 300) return Attempt::Delivered();
  std::string what = "HTTP " + std::to_string(r.status);
  if (!r.body.empty()) what += ": " + r.body.substr(0, 200);
  if (r.status == 408 || r.status == 425 || r.status == 429 || r.status >= 500) {
    return Attempt::Retry(what, r.retry_after);
  }
  return Attempt::Permanent(what);
}

Status CheckUrl(const std::string& url, const std::vector<std::string>& schemes) {
  CURLU* u = curl_url();
  const CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
  std::string scheme;
  std::string host;
  if (rc == CURLUE_OK) {
    char* part = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) == CURLUE_OK) scheme = part;
    curl_free(part);
    part = nullptr;
    if (curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK) host = part;
    curl_free(part);
  }
  curl_url_cleanup(u);
  if (rc != CURLUE_OK) {
    return Status::Error(Code::kInvalid, "\"" + url + "\" is not a URL (" + curl_url_strerror(rc) + ")");
  }
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    std::string allowed;
    for (const std::string& s : schemes) allowed += (allowed.empty() ? "" : " or ") + s + "://";
    return Status::Error(Code::kInvalid, "\"" + url + "\" must start with " + allowed);
  }
  if (host.empty()) return Status::Error(Code::kInvalid, "\"" + url + "\" has no host");
  return Status();
}

Status CheckMailbox(const std::string& address) {
  const size_t at = address.find('@');
  const bool printable = std::all_of(address.begin(), address.end(), [](char ch) {
    return ch > 0x20 && ch < 0x7f && ch != '<' && ch != '>' && ch != ',' && ch != '"';
  });
  if (address.empty() || !printable || at == 0 || at == std::string::npos ||
      at + 1 >= address.size() || address.find('@', at + 1) != std::string::npos) {
    return Status::Error(Code::kInvalid, "\"" + address + "\" is not an e-mail address like ops@example.com");
  }
  return Status();
}

}  // namespace notifier
