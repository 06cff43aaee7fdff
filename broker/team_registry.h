// TeamRegistry: the teams the broker knows, with the configured defaults
// filled in where a team leaves a setting empty. Team 0 is the general run
// and always exists.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <date/tz.h>

#include "common/schedule.h"
#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

struct TeamDefaults {
  std::string run_time = "02:00";
  std::string timezone = "UTC";
  std::string overlap = "skip";
  std::uint32_t max_attempts = 3;
  date::weekday purchase_day = date::Tuesday;
};

class TeamRegistry {
 public:
  explicit TeamRegistry(TeamDefaults defaults);

  // Replaces the known teams (from the store).
  void Load(const std::vector<schemas::TeamRecord>& teams);
  const schemas::TeamRecord* Find(std::uint32_t id) const;
  // The team with every empty setting replaced by its default.
  schemas::TeamRecord Resolved(const schemas::TeamRecord& team) const;
  std::vector<schemas::TeamRecord> ResolvedAll() const;
  // Visits every team as stored (defaults not filled in), without copies.
  template <typename F>
  void ForEach(F visit) const {
    for (const auto& [id, team] : teams_) visit(team);
  }

  // Validates `request` and returns the record to store: created time kept
  // from an existing team, schedule_since moved when the schedule changed.
  common::Result<schemas::TeamRecord> PreparePut(
      const schemas::TeamRecord& request, std::int64_t now_unix_ms) const;
  void Put(const schemas::TeamRecord& team);
  void Remove(std::uint32_t id);

  // The team's local date at `now`, and the default purchase date for a run
  // scheduled on `local_date`.
  date::local_days LocalDate(const schemas::TeamRecord& team,
                             std::chrono::system_clock::time_point now) const;
  std::string DefaultPdate(date::local_days local_date) const;

  const TeamDefaults& defaults() const { return defaults_; }
  // A reload's defaults, for teams resolved from now on.
  void SetDefaults(TeamDefaults defaults) { defaults_ = std::move(defaults); }
  // Teams whose `after` lists `upstream` (kept as an index: this is asked
  // on every successful run).
  const std::vector<std::uint32_t>& DependentsOf(std::uint32_t upstream) const;

 private:
  TeamDefaults defaults_;
  void Index(const schemas::TeamRecord& team, bool add);

  std::map<std::uint32_t, schemas::TeamRecord> teams_;
  std::map<std::uint32_t, std::vector<std::uint32_t>> dependents_;
};

}  // namespace broker
