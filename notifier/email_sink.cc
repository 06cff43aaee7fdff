#include "notifier/email_sink.h"

#include <fmt/format.h>

#include <ctime>

#include "common/team.h"
#include "notifier/sink_kind.h"
#include "schemas/topics.h"

namespace notifier {
namespace {

// Header values stay on one line whatever a peer put in an error string.
std::string OneLine(const std::string& text) {
  std::string out;
  for (char ch : text) out += (ch == '\r' || ch == '\n' || ch == '\t') ? ' ' : ch;
  return out;
}

// SMTP wants CRLF, and a lone "." line would end the message early (libcurl
// dot-stuffs, but we keep the body tidy anyway).
std::string Crlf(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') continue;
    if (text[i] == '\n') out += "\r\n";
    else out += text[i];
  }
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

std::string RfcDate(std::int64_t unix_ms) {
  const std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string Count(std::int64_t v) { return v < 0 ? "unknown" : std::to_string(v); }

}  // namespace

std::string EmailSubject(const Notification& n) {
  if (n.is_alert) {
    return OneLine(fmt::format("[daybreak] {} alert {}", common::TeamLabel(n.alert.team), n.alert.kind));
  }
  const schemas::RunRecord& r = n.run.run;
  const std::string who = r.team == 0 ? "general" : common::TeamLabel(r.team);
  return OneLine(fmt::format("[daybreak] {} run {} {}", who, r.run_id, n.run.event));
}

std::string EmailMessage(const Notification& n, const std::string& from,
                         const std::vector<std::string>& to) {
  std::string recipients;
  for (const std::string& t : to) recipients += (recipients.empty() ? "" : ", ") + t;
  const std::int64_t at = n.is_alert ? n.alert.at_unix_ms : n.run.at_unix_ms;
  std::string body;
  if (n.is_alert) {
    const schemas::AlertEvent& a = n.alert;
    body = fmt::format("Alert:      {}\nTeam:       {}\nMessage:    {}\nRun:        {}\nFailures:   {}\n",
                       a.kind, common::TeamLabel(a.team), a.message, a.run_id.empty() ? "-" : a.run_id,
                       a.count);
  } else {
    const schemas::RunRecord& r = n.run.run;
    const double d = RunDurationSeconds(r);
    body = fmt::format(
        "Team:       {}\nRun:        {} ({}, key {})\nEvent:      {}\nState:      {}\n"
        "Pdate:      {}\nAttempt:    {} of {}\nLoans:      {}\nExceptions: {}\nDuration:   {}\n"
        "Error:      {}\nLog:        {}\n",
        common::TeamLabel(r.team), r.run_id, r.kind, r.key, n.run.event, schemas::Name(r.state),
        r.pdate.empty() ? "-" : r.pdate, r.attempt, r.max_attempts, Count(r.total_loans),
        Count(r.exceptions_count), d < 0 ? std::string("-") : fmt::format("{:.1f} s", d),
        r.error.empty() ? "-" : r.error, r.log_path.empty() ? "-" : r.log_path);
    if (!r.stderr_tail.empty() && r.state != schemas::RunState::kSucceeded) {
      body += "\nThe end of its log:\n";
      std::string_view tail = r.stderr_tail;
      while (!tail.empty()) {
        const std::size_t nl = tail.find('\n');
        body += "  | " + std::string(tail.substr(0, nl)) + "\n";
        tail = nl == std::string_view::npos ? "" : tail.substr(nl + 1);
      }
    }
  }
  body += fmt::format("Event id:   {} ({})\n", n.event_id(), n.topic);
  std::string message;
  message += "From: Daybreak <" + from + ">\r\n";
  message += "To: " + recipients + "\r\n";
  message += "Subject: " + EmailSubject(n) + "\r\n";
  message += "Date: " + RfcDate(at) + "\r\n";
  // ':' may not appear in a Message-ID's left part: the incarnation and seq
  // are dot-separated there.
  message += fmt::format("Message-ID: <daybreak.{}{}.{}@daybreak>\r\n",
                         n.incarnation.empty() ? "" : n.incarnation + ".", n.seq,
                         OneLine(n.run_id().empty() ? "event" : n.run_id()));
  message += fmt::format("X-Daybreak-Event-Id: {}\r\n", n.event_id());
  message += "X-Daybreak-Topic: " + OneLine(n.topic) + "\r\n";
  message += "MIME-Version: 1.0\r\n";
  message += "Content-Type: text/plain; charset=utf-8\r\n";
  message += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  message += Crlf(body);
  return message;
}

EmailSink::EmailSink(std::string name, MailSettings mail, std::vector<std::string> to,
                     std::chrono::milliseconds timeout, const std::atomic<bool>* stop)
    : name_(std::move(name)), mail_(std::move(mail)), to_(std::move(to)), client_(timeout, stop) {}

Attempt EmailSink::Deliver(const Notification& n) {
  common::Status s = client_.SendMail(mail_, to_, EmailMessage(n, mail_.from, to_));
  if (s.ok()) return Attempt::Delivered();
  if (s.code() == common::Code::kRejected) return Attempt::Permanent(s.message());
  return Attempt::Retry(s.message());
}

namespace {

// [notifier.email]: one SMTP server for everyone, global recipients, and
// per team its own recipients (email_to), which need that server too.
class EmailKind final : public SinkKind {
 public:
  EmailKind()
      : SinkKind("email", "email.events", "DAYBREAK_EMAIL_EVENTS",
                 {schemas::RunTopic(schemas::event::kFailed),
                  std::string(schemas::topic::kAlertPrefix) + "*"}) {}

  std::vector<std::string> Destination(std::optional<std::uint32_t> team) const override {
    if (!team) return to_;
    auto it = team_to_.find(*team);
    return it == team_to_.end() || !it->second ? std::vector<std::string>{} : *it->second;
  }
  bool HasGlobalDestination() const override { return !mail_.url.empty() && !to_.empty(); }
  bool HasTeamDestination(std::uint32_t team) const override {
    return !mail_.url.empty() && !Destination(team).empty();
  }
  std::unique_ptr<Sink> Make(const std::string& queue, std::optional<std::uint32_t> team,
                             const SinkContext& c) const override {
    return std::make_unique<EmailSink>(queue, mail_, Destination(team), c.timeout, c.abort);
  }

 protected:
  void DeclareOwnKeys(common::KeySet& keys) override {
    keys.String("email.smtp_url", &mail_.url, {"DAYBREAK_SMTP_URL"})
        .Bool("email.starttls", &mail_.starttls, {"DAYBREAK_SMTP_STARTTLS"})
        .String("email.username", &mail_.username, {"DAYBREAK_SMTP_USERNAME"})
        .Secret("email.password", &mail_.password, {"DAYBREAK_SMTP_PASSWORD"})
        .String("email.ca_file", &mail_.ca_file, {"DAYBREAK_SMTP_CA_FILE"})
        .String("email.from", &mail_.from, {"DAYBREAK_EMAIL_FROM"})
        .List("email.to", &to_, {"DAYBREAK_EMAIL_TO"});
  }
  void DeclareOwnTeamKeys(std::uint32_t team, common::KeySet& keys) override {
    keys.OptList("email_to", &team_to_[team]);
  }
  common::Status ValidateOwn() const override {
    if (mail_.url.empty()) {
      if (to_.empty()) return common::Status();
      return common::Status::Error(common::Code::kInvalid,
                                   "notifier.email.to: recipients but no notifier.email.smtp_url");
    }
    if (auto s = CheckUrlAt("notifier.email.smtp_url", mail_.url, {"smtp", "smtps"}); !s.ok()) return s;
    if (auto s = CheckMailbox(mail_.from); !s.ok()) {
      return common::Status::Error(common::Code::kInvalid, "notifier.email.from: " + s.message());
    }
    if (to_.empty()) return common::Status();
    return CheckMailboxesAt("notifier.email.to", to_);
  }
  common::Status ValidateTeam(std::uint32_t team, const std::string& where) const override {
    auto it = team_to_.find(team);
    if (it == team_to_.end() || !it->second) return common::Status();
    if (mail_.url.empty()) {
      return common::Status::Error(common::Code::kInvalid,
                                   where + " email_to: recipients but no notifier.email.smtp_url");
    }
    return CheckMailboxesAt(where + " email_to", *it->second);
  }

 private:
  MailSettings mail_{.url = "", .starttls = false, .username = "", .password = "", .ca_file = "",
                     .from = "daybreak@localhost"};
  std::vector<std::string> to_;
  std::map<std::uint32_t, std::optional<std::vector<std::string>>> team_to_;
};

}  // namespace

// The descriptor sink_registry.cc lists.
std::unique_ptr<SinkKind> NewEmailKind() { return std::make_unique<EmailKind>(); }

}  // namespace notifier
