#include "notifier/notifier_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "common/team.h"
#include "common/toml_util.h"

namespace notifier {

using common::Code;
using common::Status;

namespace {

using Setter = std::function<Status(const toml::node&)>;

Status Bad(const std::string& where, const std::string& what) {
  return Status::Error(Code::kInvalid, where + ": " + what);
}

Setter String(std::string* out) {
  return [out](const toml::node& n) {
    if (!n.is_string()) return Status::Error(Code::kInvalid, "must be a string");
    *out = *n.value<std::string>();
    return Status();
  };
}
Setter OptString(std::optional<std::string>* out) {
  return [out](const toml::node& n) {
    std::string s;
    Status st = String(&s)(n);
    if (st.ok()) *out = s;
    return st;
  };
}
Setter Strings(std::vector<std::string>* out) {
  return [out](const toml::node& n) { return common::ReadStringArray(n, out); };
}
Setter OptStrings(std::optional<std::vector<std::string>>* out) {
  return [out](const toml::node& n) {
    std::vector<std::string> v;
    Status st = Strings(&v)(n);
    if (st.ok()) *out = std::move(v);
    return st;
  };
}
Setter Int(int* out) {
  return [out](const toml::node& n) {
    if (!n.is_integer()) return Status::Error(Code::kInvalid, "must be an integer");
    *out = static_cast<int>(*n.value<std::int64_t>());
    return Status();
  };
}
Setter Double(double* out) {
  return [out](const toml::node& n) {
    if (!n.is_number()) return Status::Error(Code::kInvalid, "must be a number");
    *out = *n.value<double>();
    return Status();
  };
}
Setter Bool(bool* out) {
  return [out](const toml::node& n) {
    if (!n.is_boolean()) return Status::Error(Code::kInvalid, "must be true or false");
    *out = *n.value<bool>();
    return Status();
  };
}

// Applies `table` through `keys`; sub-tables are handled by the caller and
// listed in `nested`. Unknown keys are errors, as in common/config.cc.
Status Apply(const toml::table& table, const std::string& where,
             const std::map<std::string, Setter>& keys, const std::set<std::string>& nested = {}) {
  for (const auto& [name, value] : table) {
    const std::string key(name.str());
    if (nested.count(key) != 0) continue;
    auto it = keys.find(key);
    if (it == keys.end()) return Bad(where, "unknown key " + where + "." + key);
    if (Status s = it->second(value); !s.ok()) return Bad(where + "." + key, s.message());
  }
  return Status();
}

const toml::table* SubTable(const toml::table& t, const char* name, Status* error,
                            const std::string& where) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) *error = Bad(where + "." + name, "must be a table");
  return n->as_table();
}

Status ApplyTeam(const toml::table& t, const std::string& where, TeamOverride* o) {
  const toml::node* id = t.get("id");
  if (id == nullptr || !id->is_integer()) return Bad(where, "needs an integer id (0 = general)");
  const std::int64_t value = *id->value<std::int64_t>();
  if (value < 0 || value > common::kMaxTeamId) return Bad(where + ".id", "must be 0-999999999");
  o->team = static_cast<std::uint32_t>(value);
  return Apply(t, where, {{"slack_url", OptString(&o->slack_url)},
                          {"slack_events", OptStrings(&o->slack_events)},
                          {"webhook_url", OptString(&o->webhook_url)},
                          {"webhook_events", OptStrings(&o->webhook_events)},
                          {"email_to", OptStrings(&o->email_to)},
                          {"email_events", OptStrings(&o->email_events)},
                          {"log_events", OptStrings(&o->log_events)}},
               {"id"});
}

Status ApplyToml(const std::string& path, NotifierConfig& c) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << path << ":" << e.source().begin.line << ":" << e.source().begin.column;
    return Bad(where.str(), std::string(e.description()));
  }
  const toml::node* node = root.get("notifier");
  if (node == nullptr) return Status();
  const toml::table* n = node->as_table();
  if (n == nullptr) return Bad(path, "\"notifier\" must be a [section]");
  Status s = Apply(*n, "notifier",
                   {{"cursor_file", String(&c.cursor_file)},
                    {"log_events", Strings(&c.log_events)},
                    {"retry_initial_s", Double(&c.retry_initial_s)},
                    {"retry_max_s", Double(&c.retry_max_s)},
                    {"retry_budget_s", Double(&c.retry_budget_s)},
                    {"max_attempts", Int(&c.max_attempts)},
                    {"queue_limit", Int(&c.queue_limit)},
                    {"timeout_s", Double(&c.timeout_s)}},
                   {"slack", "webhook", "email", "team"});
  if (!s.ok()) return Bad(path, s.message());
  if (const toml::table* t = SubTable(*n, "slack", &s, "notifier")) {
    s = Apply(*t, "notifier.slack", {{"url", String(&c.slack_url)}, {"events", Strings(&c.slack_events)}});
  }
  if (!s.ok()) return Bad(path, s.message());
  if (const toml::table* t = SubTable(*n, "webhook", &s, "notifier")) {
    s = Apply(*t, "notifier.webhook", {{"url", String(&c.webhook_url)}, {"events", Strings(&c.webhook_events)}});
  }
  if (!s.ok()) return Bad(path, s.message());
  if (const toml::table* t = SubTable(*n, "email", &s, "notifier")) {
    s = Apply(*t, "notifier.email",
              {{"smtp_url", String(&c.mail.url)},
               {"starttls", Bool(&c.mail.starttls)},
               {"username", String(&c.mail.username)},
               {"password", String(&c.mail.password)},
               {"ca_file", String(&c.mail.ca_file)},
               {"from", String(&c.mail.from)},
               {"to", Strings(&c.email_to)},
               {"events", Strings(&c.email_events)}});
  }
  if (!s.ok()) return Bad(path, s.message());
  if (const toml::node* teams = n->get("team")) {
    const toml::array* a = teams->as_array();
    if (a == nullptr) return Bad(path, "notifier.team must be written [[notifier.team]]");
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::table* t = (*a)[i].as_table();
      const std::string where = "notifier.team[" + std::to_string(i) + "]";
      if (t == nullptr) return Bad(path, where + " must be a table");
      TeamOverride o;
      if (Status st = ApplyTeam(*t, where, &o); !st.ok()) return Bad(path, st.message());
      c.teams.push_back(std::move(o));
    }
  }
  return Status();
}

std::vector<std::string> Words(std::string_view text) {
  std::string t(text);
  std::replace(t.begin(), t.end(), ',', ' ');
  std::istringstream in(t);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

template <typename T>
Status ParseNumber(std::string_view text, T* out) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Error(Code::kInvalid, "\"" + std::string(text) + "\" is not a number");
  }
  *out = value;
  return Status();
}

struct EnvKey {
  const char* var;
  std::function<Status(std::string_view)> set;
};

std::vector<EnvKey> EnvKeys(NotifierConfig& c) {
  auto str = [](std::string* f) { return [f](std::string_view t) { *f = std::string(t); return Status(); }; };
  auto list = [](std::vector<std::string>* f) { return [f](std::string_view t) { *f = Words(t); return Status(); }; };
  auto dbl = [](double* f) { return [f](std::string_view t) { return ParseNumber(t, f); }; };
  auto num = [](int* f) { return [f](std::string_view t) { return ParseNumber(t, f); }; };
  return {
      {"DAYBREAK_NOTIFIER_CURSOR", str(&c.cursor_file)},
      {"DAYBREAK_NOTIFIER_LOG_EVENTS", list(&c.log_events)},
      {"DAYBREAK_NOTIFIER_RETRY_INITIAL_S", dbl(&c.retry_initial_s)},
      {"DAYBREAK_NOTIFIER_RETRY_MAX_S", dbl(&c.retry_max_s)},
      {"DAYBREAK_NOTIFIER_RETRY_BUDGET_S", dbl(&c.retry_budget_s)},
      {"DAYBREAK_NOTIFIER_MAX_ATTEMPTS", num(&c.max_attempts)},
      {"DAYBREAK_NOTIFIER_QUEUE_LIMIT", num(&c.queue_limit)},
      {"DAYBREAK_NOTIFIER_TIMEOUT_S", dbl(&c.timeout_s)},
      {"DAYBREAK_SLACK_WEBHOOK_URL", str(&c.slack_url)},
      {"DAYBREAK_SLACK_EVENTS", list(&c.slack_events)},
      {"DAYBREAK_WEBHOOK_URL", str(&c.webhook_url)},
      {"DAYBREAK_WEBHOOK_EVENTS", list(&c.webhook_events)},
      {"DAYBREAK_SMTP_URL", str(&c.mail.url)},
      {"DAYBREAK_SMTP_STARTTLS",
       [&c](std::string_view t) {
         if (t == "true" || t == "1" || t == "yes") c.mail.starttls = true;
         else if (t == "false" || t == "0" || t == "no") c.mail.starttls = false;
         else return Status::Error(Code::kInvalid, "\"" + std::string(t) + "\" is not true or false");
         return Status();
       }},
      {"DAYBREAK_SMTP_USERNAME", str(&c.mail.username)},
      {"DAYBREAK_SMTP_PASSWORD", str(&c.mail.password)},
      {"DAYBREAK_SMTP_CA_FILE", str(&c.mail.ca_file)},
      {"DAYBREAK_EMAIL_FROM", str(&c.mail.from)},
      {"DAYBREAK_EMAIL_TO", list(&c.email_to)},
      {"DAYBREAK_EMAIL_EVENTS", list(&c.email_events)},
  };
}

const std::set<std::string>& RunEvents() {
  static const std::set<std::string> kEvents = {"accepted", "queued",    "dispatched", "started",
                                                "retrying", "completed", "failed",     "missed",
                                                "skipped",  "cancelled"};
  return kEvents;
}

Status CheckEvents(const std::string& where, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (Status s = CheckEventPattern(p); !s.ok()) return Bad(where, s.message());
  }
  return Status();
}

Status CheckUrlAt(const std::string& where, const std::string& url, std::vector<std::string> schemes) {
  if (Status s = CheckUrl(url, schemes); !s.ok()) return Bad(where, s.message());
  return Status();
}

Status CheckMailboxes(const std::string& where, const std::vector<std::string>& to) {
  if (to.empty()) return Bad(where, "names no recipient");
  for (const std::string& a : to) {
    if (Status s = CheckMailbox(a); !s.ok()) return Bad(where, s.message());
  }
  return Status();
}

}  // namespace

const TeamOverride* NotifierConfig::ForTeam(std::uint32_t team) const {
  for (const TeamOverride& o : teams) {
    if (o.team == team) return &o;
  }
  return nullptr;
}

Status CheckEventPattern(const std::string& p) {
  if (p == "*" || p == "run.*" || p == "alert.*") return Status();
  if (p.starts_with("run.") && RunEvents().count(p.substr(4)) != 0) return Status();
  if (p.starts_with("alert.") && p.size() > 6 &&
      std::all_of(p.begin() + 6, p.end(), [](char ch) { return (ch >= 'a' && ch <= 'z') || ch == '_'; })) {
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
  if (c.retry_initial_s <= 0 || c.retry_max_s < c.retry_initial_s) {
    return Bad("notifier.retry_max_s", "must be >= retry_initial_s > 0");
  }
  if (c.retry_budget_s < 0) return Bad("notifier.retry_budget_s", "must be >= 0");
  if (c.max_attempts < 1) return Bad("notifier.max_attempts", "must be >= 1");
  if (c.queue_limit < 2) return Bad("notifier.queue_limit", "must be >= 2");
  if (c.timeout_s <= 0) return Bad("notifier.timeout_s", "must be > 0");
  if (Status s = CheckEvents("notifier.log_events", c.log_events); !s.ok()) return s;
  if (Status s = CheckEvents("notifier.slack.events", c.slack_events); !s.ok()) return s;
  if (Status s = CheckEvents("notifier.webhook.events", c.webhook_events); !s.ok()) return s;
  if (Status s = CheckEvents("notifier.email.events", c.email_events); !s.ok()) return s;
  if (!c.slack_url.empty()) {
    if (Status s = CheckUrlAt("notifier.slack.url", c.slack_url, {"http", "https"}); !s.ok()) return s;
  }
  if (!c.webhook_url.empty()) {
    if (Status s = CheckUrlAt("notifier.webhook.url", c.webhook_url, {"http", "https"}); !s.ok()) return s;
  }
  const bool mail = !c.mail.url.empty();
  if (mail) {
    if (Status s = CheckUrlAt("notifier.email.smtp_url", c.mail.url, {"smtp", "smtps"}); !s.ok()) return s;
    if (Status s = CheckMailbox(c.mail.from); !s.ok()) return Bad("notifier.email.from", s.message());
    if (!c.email_to.empty()) {
      if (Status s = CheckMailboxes("notifier.email.to", c.email_to); !s.ok()) return s;
    }
  } else if (!c.email_to.empty()) {
    return Bad("notifier.email.to", "recipients but no notifier.email.smtp_url");
  }
  std::set<std::uint32_t> seen;
  for (const TeamOverride& o : c.teams) {
    const std::string where = "notifier.team id " + std::to_string(o.team);
    if (!seen.insert(o.team).second) return Bad(where, "appears twice");
    if (o.slack_url) {
      if (Status s = CheckUrlAt(where + " slack_url", *o.slack_url, {"http", "https"}); !s.ok()) return s;
    }
    if (o.webhook_url) {
      if (Status s = CheckUrlAt(where + " webhook_url", *o.webhook_url, {"http", "https"}); !s.ok()) return s;
    }
    if (o.email_to) {
      if (!mail) return Bad(where + " email_to", "recipients but no notifier.email.smtp_url");
      if (Status s = CheckMailboxes(where + " email_to", *o.email_to); !s.ok()) return s;
    }
    for (const auto& [name, events] : {std::pair{"slack_events", &o.slack_events},
                                       std::pair{"webhook_events", &o.webhook_events},
                                       std::pair{"email_events", &o.email_events},
                                       std::pair{"log_events", &o.log_events}}) {
      if (*events) {
        if (Status s = CheckEvents(where + " " + name, **events); !s.ok()) return s;
      }
    }
  }
  return Status();
}

common::Result<NotifierConfig> LoadNotifierConfig(
    const std::string& path, const std::function<const char*(const char*)>& getenv) {
  NotifierConfig config;
  if (!path.empty()) {
    if (Status s = ApplyToml(path, config); !s.ok()) return s;
  }
  for (EnvKey& k : EnvKeys(config)) {
    const char* value = getenv(k.var);
    if (value == nullptr) continue;
    if (Status s = k.set(value); !s.ok()) return Bad(std::string("environment ") + k.var, s.message());
  }
  if (Status s = ValidateNotifierConfig(config); !s.ok()) return s;
  return config;
}

}  // namespace notifier
