// NotifierConfig: the notifier's own part of the configuration file (the
// [notifier] table, which common::LoadConfig leaves alone), with
// environment overrides: sinks, which events go to each, per-team
// overrides, and the retry policy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "notifier/http_client.h"

namespace notifier {

// [[notifier.team]]: one team's exceptions to the global sink settings. A
// URL or recipient list here sends that team's events to its own
// destination; an events list (possibly empty, to mute) replaces the
// global one for that team.
struct TeamOverride {
  std::uint32_t team = 0;
  std::optional<std::string> slack_url;
  std::optional<std::vector<std::string>> slack_events;
  std::optional<std::string> webhook_url;
  std::optional<std::vector<std::string>> webhook_events;
  std::optional<std::vector<std::string>> email_to;
  std::optional<std::vector<std::string>> email_events;
  std::optional<std::vector<std::string>> log_events;
};

struct NotifierConfig {
  // [notifier]
  std::string cursor_file;  // empty: <state_dir>/../notifier/cursor
  std::vector<std::string> log_events = {"*"};
  double retry_initial_s = 1;
  double retry_max_s = 60;
  double retry_budget_s = 600;
  int max_attempts = 10;
  int queue_limit = 10000;
  double timeout_s = 10;

  // [notifier.slack]
  std::string slack_url;
  std::vector<std::string> slack_events = {"run.failed", "run.missed", "alert.*"};

  // [notifier.webhook]
  std::string webhook_url;
  std::vector<std::string> webhook_events = {"*"};

  // [notifier.email]
  MailSettings mail{.url = "", .starttls = false, .username = "", .password = "", .ca_file = "",
                    .from = "daybreak@localhost"};
  std::vector<std::string> email_to;
  std::vector<std::string> email_events = {"run.failed", "alert.*"};

  std::vector<TeamOverride> teams;

  const TeamOverride* ForTeam(std::uint32_t team) const;
};

// Reads the [notifier] table of `path` (empty: defaults only), then the
// environment through `getenv`, then validates. An unknown key, a wrong
// type, a bad URL, address or event pattern is an error naming the key.
common::Result<NotifierConfig> LoadNotifierConfig(
    const std::string& path, const std::function<const char*(const char*)>& getenv);

common::Status ValidateNotifierConfig(const NotifierConfig& config);

// Event patterns: "*" (everything), "run.*", "alert.*", or one topic such as
// "run.failed" or "alert.consecutive_failures".
common::Status CheckEventPattern(const std::string& pattern);
bool TopicMatches(const std::vector<std::string>& patterns, const std::string& topic);

}  // namespace notifier
