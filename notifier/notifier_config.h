// NotifierConfig: the notifier's own part of the configuration file (the
// [notifier] table, which common::LoadConfig leaves alone), with
// environment overrides: delivery and retry settings, and one configured
// SinkKind per registered kind (sink_registry.h), which reads its own keys
// in [notifier] and in each [[notifier.team]].
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "notifier/sink_kind.h"

namespace notifier {

struct NotifierConfig {
  // [notifier]
  std::string cursor_file;  // empty: <state_dir>/../notifier/cursor
  double retry_initial_s = 1;
  double retry_max_s = 60;
  double retry_budget_s = 600;
  int max_attempts = 10;
  int queue_limit = 10000;
  double timeout_s = 10;
  // How often a quiet notifier asks the broker which failed notifications
  // an operator wants sent again (give-ups are reported at once).
  double dead_letter_sync_s = 5;
  std::string public_url;  // the dashboard's address for links in messages

  // Every registered kind, configured, in registry order (read-only once
  // loaded, so copies of the config may share them).
  std::vector<std::shared_ptr<const SinkKind>> sinks;
  // Teams with a [[notifier.team]] entry, in file order.
  std::vector<std::uint32_t> teams;

  // The kind called `name`, or null.
  const SinkKind* Sink(std::string_view name) const;
  bool HasTeam(std::uint32_t team) const;
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
