#include "broker/reload.h"

#include <fmt/format.h>

#include "broker/broker_config.h"
#include "common/security.h"

namespace broker {

common::Result<std::string> ApplyReload(const common::Config& running, const common::Config& fresh,
                                        Broker& broker, HttpApi& http) {
  // The sockets were bound with or without CURVE, with the broker's key
  // pair: a reload cannot change either, and must not look as if it had.
  if (fresh.curve_enabled != running.curve_enabled) {
    return common::Status::Error(common::Code::kInvalid,
                                 "security.curve_enabled changes only at a restart (the sockets are "
                                 "bound with or without CURVE)");
  }
  if (fresh.broker_public_key != running.broker_public_key ||
      fresh.broker_secret_key != running.broker_secret_key) {
    return common::Status::Error(common::Code::kInvalid,
                                 "the broker's own key pair changes only at a restart");
  }
  Broker::Reloaded reloaded;
  std::string keys_text = "no CURVE keys";
  if (fresh.curve_enabled) {
    auto keys = common::AuthorizedKeys(fresh);
    if (!keys.ok()) return keys.status();
    keys_text = keys.value().empty() ? "any key (no key list)" : fmt::format("{} key(s)", keys.value().size());
    reloaded.keys = std::move(keys).value();
  }
  auto grants = common::HttpGrants(fresh);
  if (!grants.ok()) return grants.status();
  const std::size_t tokens = grants.value().size();
  // The ticker follows the schedule it read; a new default time or zone
  // would show in teams.list without moving a fire. Kept until the start.
  reloaded.team_defaults = TeamDefaultsFrom(fresh);
  const TeamDefaults started = TeamDefaultsFrom(running);
  reloaded.team_defaults.run_time = started.run_time;
  reloaded.team_defaults.timezone = started.timezone;
  reloaded.retry = SettingsFrom(fresh).retry;

  http.SetTokens(std::move(grants).value());
  broker.RequestReload(std::move(reloaded));
  std::string changed = fmt::format(
      "{}, {} dashboard token(s), max attempts {}, backoff {} s to {} s, retry on {}, overlap {}, "
      "purchase day {}",
      keys_text, tokens, fresh.max_attempts, fresh.backoff_initial_s, fresh.backoff_max_s,
      fresh.retry_on, fresh.overlap, fresh.purchase_weekday);
  if (fresh.daily_run_time != running.daily_run_time || fresh.timezone != running.timezone) {
    changed += "; the default run time and zone stay " + started.run_time + " " + started.timezone +
               " until the next start";
  }
  return changed;
}

}  // namespace broker
