// What people and programs receive: Slack text, webhook JSON, mail.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "notifier/email_sink.h"
#include "notifier/sink.h"
#include "notifier/slack_sink.h"
#include "notifier/webhook_sink.h"

namespace {

using notifier::Notification;

Notification FailedRun() {
  Notification n;
  n.topic = "run.failed";
  n.seq = 42;
  n.run.seq = 42;
  n.incarnation = n.run.incarnation = "a1b2";
  n.run.event = "failed";
  n.run.at_unix_ms = 1748916000000;  // 2025-06-03 02:00:00 UTC
  schemas::RunRecord& r = n.run.run;
  r.run_id = "r0000000007";
  r.key = "manual:r0000000007";
  r.kind = "manual";
  r.team = 2;
  r.state = schemas::RunState::kFailed;
  r.pdate = "2025-06-03";
  r.attempt = 3;
  r.max_attempts = 3;
  r.started_unix_ms = 1748915996800;
  r.finished_unix_ms = 1748916000000;
  r.total_loans = 1000;
  r.exceptions_count = 51;
  r.error = "exit code 1 <see log>\nsecond line";
  return n;
}

Notification Alert() {
  Notification n;
  n.topic = "alert.consecutive_failures";
  n.seq = 43;
  n.is_alert = true;
  n.alert.seq = 43;
  n.alert.kind = "consecutive_failures";
  n.alert.team = 2;
  n.alert.count = 3;
  n.alert.run_id = "r0000000007";
  n.alert.message = "team 2 failed 3 runs in a row";
  return n;
}

}  // namespace

TEST_CASE("a Slack message names team, run, state, pdate, loans, exceptions, duration, error and attempt") {
  const std::string text = notifier::SlackText(FailedRun());
  for (const char* part : {"team 2", "r0000000007", "failed", "pdate: 2025-06-03", "attempt: 3 of 3",
                           "loans: 1000", "exceptions: 51", "duration: 3.2 s", "exit code 1"}) {
    CHECK_MESSAGE(text.find(part) != std::string::npos, part << " missing in " << text);
  }
  CHECK(text.find("&lt;see log&gt;") != std::string::npos);  // Slack markup escaped
  const auto body = nlohmann::json::parse(notifier::SlackBody(FailedRun()));
  CHECK(body["text"] == text);

  const std::string alert = notifier::SlackText(Alert());
  CHECK(alert.find("consecutive_failures") != std::string::npos);
  CHECK(alert.find("team 2 failed 3 runs in a row") != std::string::npos);
}

TEST_CASE("every notification of a failure carries the pipeline's own last words; a success's do not") {
  Notification failed = FailedRun();
  failed.run.run.stderr_tail = "loading tape\nERROR upstream DB unreachable\n";
  CHECK(notifier::SlackText(failed).find("reason:\n```loading tape\nERROR upstream DB unreachable") !=
        std::string::npos);
  CHECK(notifier::DescribeNotification(failed).find("(ERROR upstream DB unreachable)") !=
        std::string::npos);
  CHECK(nlohmann::json::parse(notifier::WebhookBody(failed))["run"]["stderr_tail"] ==
        "loading tape\nERROR upstream DB unreachable\n");
  const std::string mail = notifier::EmailMessage(failed, "d@example.com", {"a@example.com"});
  CHECK(mail.find("  | ERROR upstream DB unreachable\r\n") != std::string::npos);
  // A ``` in the tail cannot close Slack's block early.
  failed.run.run.stderr_tail = "a```b";
  CHECK(notifier::SlackText(failed).find("a```b") == std::string::npos);

  Notification done = FailedRun();
  done.run.event = "completed";
  done.run.run.state = schemas::RunState::kSucceeded;
  done.run.run.stderr_tail = "all fine\n";
  CHECK(notifier::SlackText(done).find("all fine") == std::string::npos);
  CHECK(notifier::EmailMessage(done, "d@example.com", {"a@example.com"}).find("all fine") ==
        std::string::npos);
}

TEST_CASE("a Slack body is Block Kit: a header, the figures as fields, the reason, and a button to the run") {
  Notification failed = FailedRun();
  failed.run.run.stderr_tail = "ERROR upstream DB unreachable\n";
  const auto body = nlohmann::json::parse(notifier::SlackBody(failed, "https://daybreak.example.com/"));
  CHECK(body["text"] == notifier::SlackText(failed));  // the fallback people's phones show
  const auto& blocks = body["blocks"];
  REQUIRE(blocks.size() == 4);
  CHECK(blocks[0]["type"] == "header");
  CHECK(blocks[0]["text"]["type"] == "plain_text");
  CHECK(blocks[0]["text"]["text"].get<std::string>().find("team 2 run r0000000007 failed") != std::string::npos);
  CHECK(blocks[1]["type"] == "section");
  std::string fields;
  for (const auto& f : blocks[1]["fields"]) fields += f["text"].get<std::string>() + "|";
  for (const char* part : {"*State*\nfailed", "*Pdate*\n2025-06-03", "*Attempt*\n3 of 3",
                           "*Loans / exceptions*\n1000 / 51", "*Duration*\n3.2 s", "&lt;see log&gt;"}) {
    CHECK_MESSAGE(fields.find(part) != std::string::npos, part << " missing in " << fields);
  }
  CHECK(blocks[2]["text"]["text"].get<std::string>().find("ERROR upstream DB unreachable") != std::string::npos);
  CHECK(blocks[3]["type"] == "actions");
  CHECK(blocks[3]["elements"][0]["url"] == "https://daybreak.example.com/#run=r0000000007");

  // Without a public_url, no button; an alert has its own layout.
  CHECK(nlohmann::json::parse(notifier::SlackBody(failed))["blocks"].size() == 3);
  const auto alert = nlohmann::json::parse(notifier::SlackBody(Alert(), "http://d:7480"));
  CHECK(alert["blocks"][0]["text"]["text"].get<std::string>().find("consecutive_failures") != std::string::npos);
  CHECK(alert["blocks"].back()["elements"][0]["url"].get<std::string>().starts_with("http://d:7480/#"));
  // Slack's limits hold however long the error.
  failed.run.run.error = std::string(5000, 'e');
  const auto capped = nlohmann::json::parse(notifier::SlackBody(failed));
  for (const auto& f : capped["blocks"][1]["fields"]) CHECK(f["text"].get<std::string>().size() <= 2000);
}

TEST_CASE("a webhook body is the event as JSON with its topic and event id") {
  const auto j = nlohmann::json::parse(notifier::WebhookBody(FailedRun()));
  CHECK(j["event_id"] == "a1b2:42");  // unique even where a restored store repeats seq 42
  CHECK(j["seq"] == 42);
  CHECK(j["incarnation"] == "a1b2");
  CHECK(j["topic"] == "run.failed");
  CHECK(j["event"] == "failed");
  CHECK(j["run"]["run_id"] == "r0000000007");
  CHECK(j["run"]["total_loans"] == 1000);
  const auto a = nlohmann::json::parse(notifier::WebhookBody(Alert()));
  CHECK(a["event_id"] == "43");  // from before events named their store
  CHECK(a["kind"] == "consecutive_failures");
}

TEST_CASE("a mail has a filterable subject, the event id and a readable CRLF body") {
  CHECK(notifier::EmailSubject(FailedRun()) == "[daybreak] team 2 run r0000000007 failed");
  CHECK(notifier::EmailSubject(Alert()) == "[daybreak] team 2 alert consecutive_failures");
  Notification general = FailedRun();
  general.run.run.team = 0;
  CHECK(notifier::EmailSubject(general) == "[daybreak] general run r0000000007 failed");

  const std::string m = notifier::EmailMessage(FailedRun(), "daybreak@example.com",
                                               {"a@example.com", "b@example.com"});
  CHECK(m.find("Subject: [daybreak] team 2 run r0000000007 failed\r\n") != std::string::npos);
  CHECK(m.find("To: a@example.com, b@example.com\r\n") != std::string::npos);
  CHECK(m.find("X-Daybreak-Event-Id: a1b2:42\r\n") != std::string::npos);
  CHECK(m.find("Message-ID: <daybreak.a1b2.42.r0000000007@daybreak>\r\n") != std::string::npos);
  CHECK(m.find("Date: Tue, 03 Jun 2025 02:00:00 +0000\r\n") != std::string::npos);
  CHECK(m.find("Loans:      1000\r\n") != std::string::npos);
  CHECK(m.find("Error:      exit code 1 <see log>\r\nsecond line\r\n") != std::string::npos);
  // No bare LF anywhere.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') REQUIRE(i > 0);
    if (m[i] == '\n') CHECK(m[i - 1] == '\r');
  }
}
