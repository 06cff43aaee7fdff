// SinkKind: the descriptor of one kind of notification sink (log, Slack,
// webhook, email): its name, the keys it reads from [notifier] and from
// each [[notifier.team]], how they are checked, and how its sinks are made.
// The notifier's config reader and router know only this interface, so a
// new kind is one file with a subclass plus one line in sink_registry.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config_keys.h"
#include "common/status.h"
#include "notifier/sink.h"

namespace notifier {

// What every sink made from the configuration shares.
struct SinkContext {
  std::chrono::milliseconds timeout{10000};
  const std::atomic<bool>* abort = nullptr;  // cuts transfers short; may be null
  // The dashboard as people reach it ("https://daybreak.example.com"):
  // messages link to a run's page there. Empty: no links.
  std::string public_url = "";
};

class SinkKind {
 public:
  // The kind's global event list is `events_key` in [notifier] (such as
  // "slack.events"), overridden by `events_var`; each team may replace it
  // with `<name>_events`.
  SinkKind(std::string name, std::string events_key, std::string events_var,
           std::vector<std::string> default_events);
  virtual ~SinkKind() = default;
  SinkKind(const SinkKind&) = delete;  // keys are bound to the fields
  SinkKind& operator=(const SinkKind&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& events() const { return events_; }
  // The team's own list when its [[notifier.team]] sets `<name>_events`.
  const std::optional<std::vector<std::string>>& TeamEvents(std::uint32_t team) const;

  // Adds the kind's keys, relative to [notifier], bound to this object,
  // which must outlive `keys`.
  void DeclareKeys(common::KeySet& keys);
  // Adds the keys the kind reads in team `team`'s [[notifier.team]].
  void DeclareTeamKeys(std::uint32_t team, common::KeySet& keys);
  // The event lists and the kind's own values; errors name the key.
  common::Status Validate() const;

  // Where the events go: the global destination (no team) or the team's
  // own (a URL, the recipients); empty when there is none or no address.
  virtual std::vector<std::string> Destination(
      std::optional<std::uint32_t> team = std::nullopt) const = 0;
  virtual bool HasGlobalDestination() const = 0;
  virtual bool HasTeamDestination(std::uint32_t team) const = 0;
  // A sink named `queue` for the global destination or team's own.
  virtual std::unique_ptr<Sink> Make(const std::string& queue, std::optional<std::uint32_t> team,
                                     const SinkContext& context) const = 0;

 protected:
  virtual void DeclareOwnKeys(common::KeySet& keys) = 0;
  virtual void DeclareOwnTeamKeys(std::uint32_t team, common::KeySet& keys) = 0;
  virtual common::Status ValidateOwn() const = 0;
  // `where` is "notifier.team id <team>", for errors.
  virtual common::Status ValidateTeam(std::uint32_t team, const std::string& where) const = 0;
  // Teams with a [[notifier.team]] entry, in no particular order.
  std::vector<std::uint32_t> Teams() const;

 private:
  std::string name_;
  std::string events_key_;
  std::string events_var_;
  std::vector<std::string> events_;
  std::map<std::uint32_t, std::optional<std::vector<std::string>>> team_events_;
};

// Helpers for kinds' checks: each error is prefixed with `where`.
common::Status CheckUrlAt(const std::string& where, const std::string& url,
                          const std::vector<std::string>& schemes);
common::Status CheckMailboxesAt(const std::string& where, const std::vector<std::string>& to);

}  // namespace notifier
