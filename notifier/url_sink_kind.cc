#include "notifier/url_sink_kind.h"

namespace notifier {

namespace {
const std::vector<std::string> kHttpSchemes = {"http", "https"};
}  // namespace

UrlSinkKind::UrlSinkKind(std::string name, std::string url_var, std::string events_var,
                         std::vector<std::string> default_events, MakeSink make)
    : SinkKind(name, name + ".events", std::move(events_var), std::move(default_events)),
      url_var_(std::move(url_var)),
      make_(std::move(make)) {}

void UrlSinkKind::DeclareOwnKeys(common::KeySet& keys) {
  // A webhook URL carries its token (Slack's does): a secret.
  keys.Secret(this->name() + ".url", &url_, {url_var_});
}

void UrlSinkKind::DeclareOwnTeamKeys(std::uint32_t team, common::KeySet& keys) {
  keys.OptString(this->name() + "_url", &team_urls_[team]);
}

std::vector<std::string> UrlSinkKind::Destination(std::optional<std::uint32_t> team) const {
  if (!team) return url_.empty() ? std::vector<std::string>{} : std::vector<std::string>{url_};
  auto it = team_urls_.find(*team);
  if (it == team_urls_.end() || !it->second) return {};
  return {*it->second};
}

bool UrlSinkKind::HasTeamDestination(std::uint32_t team) const {
  auto it = team_urls_.find(team);
  return it != team_urls_.end() && it->second.has_value();
}

std::unique_ptr<Sink> UrlSinkKind::Make(const std::string& queue, std::optional<std::uint32_t> team,
                                        const SinkContext& context) const {
  return make_(queue, team ? *team_urls_.at(*team) : url_, context);
}

common::Status UrlSinkKind::ValidateOwn() const {
  if (url_.empty()) return common::Status();
  return CheckUrlAt("notifier." + name() + ".url", url_, kHttpSchemes);
}

common::Status UrlSinkKind::ValidateTeam(std::uint32_t team, const std::string& where) const {
  auto it = team_urls_.find(team);
  if (it == team_urls_.end() || !it->second) return common::Status();
  return CheckUrlAt(where + " " + name() + "_url", *it->second, kHttpSchemes);
}

}  // namespace notifier
