#include "notifier/notifier_config.h"

#include <algorithm>
#include <limits>

#include "common/config_keys.h"
#include "common/team.h"
#include "notifier/sink_registry.h"
#include "schemas/topics.h"

namespace notifier {

using common::Code;
using common::KeySet;
using common::Status;

namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::Error(Code::kInvalid, where + ": " + what);
}

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();

// The keys of [notifier] that are not a sink kind's, relative to it.
KeySet DeliveryKeys(NotifierConfig& c) {
  KeySet k;
  k.String("cursor_file", &c.cursor_file, {"DAYBREAK_NOTIFIER_CURSOR"})
      .Double("retry_initial_s", &c.retry_initial_s, {0}, {"DAYBREAK_NOTIFIER_RETRY_INITIAL_S"})
      .Double("retry_max_s", &c.retry_max_s, {0}, {"DAYBREAK_NOTIFIER_RETRY_MAX_S"})
      .Double("retry_budget_s", &c.retry_budget_s, {0}, {"DAYBREAK_NOTIFIER_RETRY_BUDGET_S"})
      .Int("max_attempts", &c.max_attempts, {1, kIntMax}, {"DAYBREAK_NOTIFIER_MAX_ATTEMPTS"})
      .Int("queue_limit", &c.queue_limit, {2, kIntMax}, {"DAYBREAK_NOTIFIER_QUEUE_LIMIT"})
      .Double("timeout_s", &c.timeout_s, {0}, {"DAYBREAK_NOTIFIER_TIMEOUT_S"})
      .Double("dead_letter_sync_s", &c.dead_letter_sync_s, {0}, {"DAYBREAK_NOTIFIER_DEAD_LETTER_SYNC_S"})
      .String("public_url", &c.public_url, {"DAYBREAK_PUBLIC_URL"});
  return k;
}

// [[notifier.team]]: an id, then each kind's per-team keys.
Status ApplyTeams(const toml::node& node, const std::vector<std::unique_ptr<SinkKind>>& kinds,
                  std::vector<std::uint32_t>* teams) {
  const toml::array* a = node.as_array();
  if (a == nullptr) return Status::Error(Code::kInvalid, "notifier.team must be written [[notifier.team]]");
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::table* t = (*a)[i].as_table();
    const std::string where = "notifier.team[" + std::to_string(i) + "]";
    if (t == nullptr) return Status::Error(Code::kInvalid, where + " must be a table");
    const toml::node* id = t->get("id");
    if (id == nullptr || !id->is_integer()) return Bad(where, "needs an integer id (0 = general)");
    const std::int64_t value = *id->value<std::int64_t>();
    if (value < 0 || value > common::kMaxTeamId) return Bad(where + ".id", "must be 0-999999999");
    const auto team = static_cast<std::uint32_t>(value);
    if (std::find(teams->begin(), teams->end(), team) != teams->end()) {
      return Bad("notifier.team id " + std::to_string(team), "appears twice");
    }
    teams->push_back(team);
    KeySet keys;
    for (const auto& kind : kinds) kind->DeclareTeamKeys(team, keys);
    if (Status s = keys.ApplyToml(*t, where, {"id"}); !s.ok()) return s;
  }
  return Status();
}

Status ApplyFile(const std::string& path, KeySet& keys,
                 const std::vector<std::unique_ptr<SinkKind>>& kinds, NotifierConfig& c) {
  auto root = common::ParseTomlFile(path);
  if (!root.ok()) return root.status();
  const toml::node* node = root.value().get("notifier");
  if (node == nullptr) return Status();
  const toml::table* n = node->as_table();
  if (n == nullptr) return Bad(path, "\"notifier\" must be a [section]");
  if (Status s = keys.ApplyToml(*n, "notifier", {"team"}); !s.ok()) return Bad(path, s.message());
  if (const toml::node* teams = n->get("team")) {
    if (Status s = ApplyTeams(*teams, kinds, &c.teams); !s.ok()) return Bad(path, s.message());
  }
  return Status();
}

}  // namespace

const SinkKind* NotifierConfig::Sink(std::string_view name) const {
  for (const auto& kind : sinks) {
    if (kind->name() == name) return kind.get();
  }
  return nullptr;
}

bool NotifierConfig::HasTeam(std::uint32_t team) const {
  return std::find(teams.begin(), teams.end(), team) != teams.end();
}

Status CheckEventPattern(const std::string& p) {
  const std::string_view run = schemas::topic::kRunPrefix;
  const std::string_view alert = schemas::topic::kAlertPrefix;
  if (p == "*" || p == std::string(run) + "*" || p == std::string(alert) + "*") return Status();
  if (p.starts_with(run) && schemas::IsOneOf(std::string_view(p).substr(run.size()), schemas::event::kAll)) {
    return Status();
  }
  // Alert kinds may grow before the notifier learns them: any lower-case word.
  if (p.starts_with(alert) && p.size() > alert.size() &&
      std::all_of(p.begin() + alert.size(), p.end(), [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; })) {
    return Status();
  }
  return Status::Error(Code::kInvalid,
                       "\"" + p + "\" is not an event pattern (\"*\", \"run.*\", \"alert.*\", "
                       "\"run.failed\", \"alert.consecutive_failures\", ...)");
}

bool TopicMatches(const std::vector<std::string>& patterns, const std::string& topic) {
  for (const std::string& p : patterns) {
    if (p == "*" || p == topic) return true;
    if (p.ends_with(".*") && topic.starts_with(p.substr(0, p.size() - 1))) return true;
  }
  return false;
}

Status ValidateNotifierConfig(const NotifierConfig& c) {
  NotifierConfig copy = c;  // the key table binds to fields; ranges are checked on the copy
  if (Status s = DeliveryKeys(copy).CheckRanges("notifier"); !s.ok()) return s;
  if (c.retry_initial_s <= 0 || c.retry_max_s < c.retry_initial_s) {
    return Bad("notifier.retry_max_s", "must be >= retry_initial_s > 0");
  }
  if (c.timeout_s <= 0) return Bad("notifier.timeout_s", "must be > 0");
  if (c.dead_letter_sync_s < 0.05 || c.dead_letter_sync_s > 3600) {
    return Bad("notifier.dead_letter_sync_s", "must be 0.05-3600 (seconds)");
  }
  if (!c.public_url.empty() && !c.public_url.starts_with("http://") && !c.public_url.starts_with("https://")) {
    return Bad("notifier.public_url", "\"" + c.public_url + "\" must start with http:// or https://");
  }
  for (const auto& kind : c.sinks) {
    if (Status s = kind->Validate(); !s.ok()) return s;
  }
  return Status();
}

common::Result<NotifierConfig> LoadNotifierConfig(
    const std::string& path, const std::function<const char*(const char*)>& getenv) {
  NotifierConfig config;
  std::vector<std::unique_ptr<SinkKind>> kinds = NewSinkKinds();
  KeySet keys = DeliveryKeys(config);
  for (const auto& kind : kinds) kind->DeclareKeys(keys);
  if (!path.empty()) {
    if (Status s = ApplyFile(path, keys, kinds, config); !s.ok()) return s;
  }
  if (Status s = keys.ApplyEnv(getenv); !s.ok()) return s;
  for (auto& kind : kinds) config.sinks.push_back(std::move(kind));
  if (Status s = ValidateNotifierConfig(config); !s.ok()) return s;
  return config;
}

}  // namespace notifier
