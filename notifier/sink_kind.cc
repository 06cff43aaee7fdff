#include "notifier/sink_kind.h"

#include "notifier/http_client.h"
#include "notifier/notifier_config.h"

namespace notifier {

using common::Code;
using common::Status;

namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::Error(Code::kInvalid, where + ": " + what);
}

Status CheckEvents(const std::string& where, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (Status s = CheckEventPattern(p); !s.ok()) return Bad(where, s.message());
  }
  return Status();
}

}  // namespace

SinkKind::SinkKind(std::string name, std::string events_key, std::string events_var,
                   std::vector<std::string> default_events)
    : name_(std::move(name)),
      events_key_(std::move(events_key)),
      events_var_(std::move(events_var)),
      events_(std::move(default_events)) {}

const std::optional<std::vector<std::string>>& SinkKind::TeamEvents(std::uint32_t team) const {
  static const std::optional<std::vector<std::string>> kNone;
  auto it = team_events_.find(team);
  return it == team_events_.end() ? kNone : it->second;
}

std::vector<std::uint32_t> SinkKind::Teams() const {
  std::vector<std::uint32_t> out;
  for (const auto& [team, events] : team_events_) out.push_back(team);
  return out;
}

void SinkKind::DeclareKeys(common::KeySet& keys) {
  keys.List(events_key_, &events_, {events_var_});
  DeclareOwnKeys(keys);
}

void SinkKind::DeclareTeamKeys(std::uint32_t team, common::KeySet& keys) {
  // std::map nodes stay put, so the bound pointer stays valid.
  keys.OptList(name_ + "_events", &team_events_[team]);
  DeclareOwnTeamKeys(team, keys);
}

Status SinkKind::Validate() const {
  if (Status s = CheckEvents("notifier." + events_key_, events_); !s.ok()) return s;
  if (Status s = ValidateOwn(); !s.ok()) return s;
  for (const auto& [team, events] : team_events_) {
    const std::string where = "notifier.team id " + std::to_string(team);
    if (Status s = ValidateTeam(team, where); !s.ok()) return s;
    if (events) {
      if (Status s = CheckEvents(where + " " + name_ + "_events", *events); !s.ok()) return s;
    }
  }
  return Status();
}

Status CheckUrlAt(const std::string& where, const std::string& url,
                  const std::vector<std::string>& schemes) {
  if (Status s = CheckUrl(url, schemes); !s.ok()) return Bad(where, s.message());
  return Status();
}

Status CheckMailboxesAt(const std::string& where, const std::vector<std::string>& to) {
  if (to.empty()) return Bad(where, "names no recipient");
  for (const std::string& a : to) {
    if (Status s = CheckMailbox(a); !s.ok()) return Bad(where, s.message());
  }
  return Status();
}

}  // namespace notifier
