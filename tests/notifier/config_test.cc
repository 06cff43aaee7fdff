// The [notifier] configuration: sinks, routes, team overrides, bad values.
#include <doctest/doctest.h>

#include <map>

#include "common/config.h"
#include "notifier/notifier_config.h"
#include "tests/support/temp_dir.h"

namespace {

common::Result<notifier::NotifierConfig> Load(const std::string& toml,
                                              std::map<std::string, std::string> env = {}) {
  testing::TempDir dir;
  const std::string path = toml.empty() ? "" : dir.WriteFile("daybreak.toml", toml);
  return notifier::LoadNotifierConfig(path, [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST_CASE("with no configuration only the log sink is on, for every event") {
  auto c = Load("");
  REQUIRE(c.ok());
  const auto& n = c.value();
  CHECK(n.Sink("slack")->Destination().empty());
  CHECK(n.Sink("webhook")->Destination().empty());
  CHECK_FALSE(n.Sink("email")->HasGlobalDestination());
  CHECK(n.Sink("log")->HasGlobalDestination());
  CHECK(n.Sink("log")->events() == std::vector<std::string>{"*"});
}

TEST_CASE("sinks, routes and team overrides come from the [notifier] table") {
  auto c = Load(R"(
[log]
level = "info"

[notifier]
retry_initial_s = 0.5
max_attempts = 4

[notifier.slack]
url = "https://hooks.slack.com/services/T/B/X"
events = ["run.failed", "alert.*"]

[notifier.email]
smtp_url = "smtp://mail.example.com:587"
starttls = true
from = "daybreak@example.com"
to = ["ops@example.com"]

[[notifier.team]]
id = 2
slack_url = "https://hooks.slack.com/services/T/B/TEAM2"
email_to = ["team2@example.com", "lead2@example.com"]

[[notifier.team]]
id = 3
slack_events = []
)");
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  const auto& n = c.value();
  CHECK(n.retry_initial_s == 0.5);
  CHECK(n.max_attempts == 4);
  CHECK(n.Sink("email")->Destination() == std::vector<std::string>{"ops@example.com"});
  CHECK(n.Sink("slack")->events() == std::vector<std::string>{"run.failed", "alert.*"});
  REQUIRE(n.HasTeam(2));
  CHECK(n.Sink("slack")->Destination(2) ==
        std::vector<std::string>{"https://hooks.slack.com/services/T/B/TEAM2"});
  CHECK(n.Sink("email")->Destination(2).size() == 2);
  CHECK(n.Sink("email")->HasTeamDestination(2));
  CHECK_FALSE(n.Sink("webhook")->HasTeamDestination(2));
  CHECK(n.Sink("slack")->TeamEvents(3)->empty());
  CHECK_FALSE(n.Sink("slack")->TeamEvents(2).has_value());
  CHECK_FALSE(n.HasTeam(4));

  SUBCASE("the common loader leaves the notifier table alone") {
    testing::TempDir dir;
    const std::string path = dir.WriteFile("d.toml", "[notifier.slack]\nurl = \"https://x.example\"\n");
    CHECK(common::LoadConfig(path, [](const char*) -> const char* { return nullptr; }).ok());
  }
}

TEST_CASE("the environment overrides the file") {
  auto c = Load("[notifier.webhook]\nurl = \"http://a.example/hook\"\n",
                {{"DAYBREAK_WEBHOOK_URL", "http://b.example/hook"},
                 {"DAYBREAK_EMAIL_TO", "a@example.com, b@example.com"},
                 {"DAYBREAK_SMTP_URL", "smtps://mail.example.com"},
                 {"DAYBREAK_SLACK_EVENTS", "run.* alert.*"}});
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  const auto& n = c.value();
  CHECK(n.Sink("webhook")->Destination() == std::vector<std::string>{"http://b.example/hook"});
  CHECK(n.Sink("email")->Destination() == std::vector<std::string>{"a@example.com", "b@example.com"});
  CHECK(n.Sink("slack")->events() == std::vector<std::string>{"run.*", "alert.*"});
}

TEST_CASE("a bad URL, address, event or key is a clear error naming it") {
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& k : std::vector<Case>{
           {"[notifier.slack]\nurl = \"hooks.slack.com/x\"\n", "notifier.slack.url"},
           {"[notifier.webhook]\nurl = \"ftp://example.com/x\"\n", "must start with http:// or https://"},
           {"[notifier.webhook]\nurl = \"http://\"\n", "notifier.webhook.url"},
           {"[notifier.email]\nsmtp_url = \"http://mail.example.com\"\nto = [\"a@example.com\"]\n",
            "notifier.email.smtp_url"},
           {"[notifier.email]\nsmtp_url = \"smtp://mail.example.com\"\nto = [\"not an address\"]\n",
            "notifier.email.to"},
           {"[notifier.email]\nto = [\"a@example.com\"]\n", "no notifier.email.smtp_url"},
           {"[notifier.slack]\nurl = \"https://x.example\"\nevents = [\"run.faild\"]\n", "run.faild"},
           {"[notifier.slack]\nhook = \"https://x.example\"\n", "unknown key notifier.slack.hook"},
           {"[notifier]\nmax_attempts = \"3\"\n", "notifier.max_attempts"},
           {"[[notifier.team]]\nid = 2\nwebhook_url = \"nope\"\n", "team id 2 webhook_url"},
           {"[[notifier.team]]\nslack_events = []\n", "needs an integer id"},
           {"[[notifier.team]]\nid = 2\n[[notifier.team]]\nid = 2\n", "appears twice"},
       }) {
    CAPTURE(k.toml);
    auto c = Load(k.toml);
    REQUIRE_FALSE(c.ok());
    CHECK_MESSAGE(c.status().message().find(k.expect) != std::string::npos, c.status().message());
  }
  auto env = Load("", {{"DAYBREAK_SLACK_WEBHOOK_URL", "slack"}});
  REQUIRE_FALSE(env.ok());
  CHECK(env.status().message().find("notifier.slack.url") != std::string::npos);
}

TEST_CASE("event patterns match topics exactly or by prefix") {
  using notifier::TopicMatches;
  CHECK(TopicMatches({"*"}, "run.started"));
  CHECK(TopicMatches({"run.failed", "alert.*"}, "alert.recovered"));
  CHECK(TopicMatches({"run.failed", "alert.*"}, "run.failed"));
  CHECK_FALSE(TopicMatches({"run.failed", "alert.*"}, "run.failedx"));
  CHECK_FALSE(TopicMatches({"run.failed", "alert.*"}, "run.completed"));
  CHECK_FALSE(TopicMatches({}, "run.failed"));
}

TEST_CASE("the notifier's integers are range-checked like every other key (issue 10)") {
  // The notifier's own reader once cast 2^32 + 3 attempts to 3.
  for (const char* key : {"max_attempts", "queue_limit"}) {
    CAPTURE(key);
    auto c = Load(std::string("[notifier]\n") + key + " = 4294967299\n");
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find(std::string("notifier.") + key) != std::string::npos);
  }
  auto env = Load("", {{"DAYBREAK_NOTIFIER_QUEUE_LIMIT", "1"}});
  REQUIRE_FALSE(env.ok());
  CHECK(env.status().message().find("DAYBREAK_NOTIFIER_QUEUE_LIMIT") != std::string::npos);
}
