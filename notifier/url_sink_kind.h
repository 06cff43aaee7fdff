// UrlSinkKind: a sink kind whose destination is one http(s) URL, globally
// ([notifier.<name>] url) or per team (<name>_url). Slack and the generic
// webhook are this; a new HTTP sink needs only its Sink and a factory.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "notifier/sink_kind.h"

namespace notifier {

class UrlSinkKind final : public SinkKind {
 public:
  using MakeSink = std::function<std::unique_ptr<Sink>(const std::string& queue, const std::string& url,
                                                       const SinkContext& context)>;
  // `url_var` overrides the global URL; `events_var` its event list.
  UrlSinkKind(std::string name, std::string url_var, std::string events_var,
              std::vector<std::string> default_events, MakeSink make);

  std::vector<std::string> Destination(std::optional<std::uint32_t> team) const override;
  bool HasGlobalDestination() const override { return !url_.empty(); }
  bool HasTeamDestination(std::uint32_t team) const override;
  std::unique_ptr<Sink> Make(const std::string& queue, std::optional<std::uint32_t> team,
                             const SinkContext& context) const override;

 protected:
  void DeclareOwnKeys(common::KeySet& keys) override;
  void DeclareOwnTeamKeys(std::uint32_t team, common::KeySet& keys) override;
  common::Status ValidateOwn() const override;
  common::Status ValidateTeam(std::uint32_t team, const std::string& where) const override;

 private:
  std::string url_var_;
  MakeSink make_;
  std::string url_;
  std::map<std::uint32_t, std::optional<std::string>> team_urls_;
};

}  // namespace notifier
