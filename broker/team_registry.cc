#include "broker/team_registry.h"

#include <algorithm>

#include "common/team.h"
#include "schemas/codec.h"

namespace broker {

using common::Code;
using common::Status;

TeamRegistry::TeamRegistry(TeamDefaults defaults) : defaults_(std::move(defaults)) {}

void TeamRegistry::Load(const std::vector<schemas::TeamRecord>& teams) {
  teams_.clear();
  dependents_.clear();
  for (const schemas::TeamRecord& t : teams) Put(t);
}

void TeamRegistry::Index(const schemas::TeamRecord& team, bool add) {
  for (std::uint32_t upstream : team.after) {
    auto& list = dependents_[upstream];
    list.erase(std::remove(list.begin(), list.end(), team.id), list.end());
    if (add) list.push_back(team.id);
    if (list.empty()) dependents_.erase(upstream);
  }
}

const std::vector<std::uint32_t>& TeamRegistry::DependentsOf(std::uint32_t upstream) const {
  static const std::vector<std::uint32_t> kNone;
  auto it = dependents_.find(upstream);
  return it == dependents_.end() ? kNone : it->second;
}

const schemas::TeamRecord* TeamRegistry::Find(std::uint32_t id) const {
  auto it = teams_.find(id);
  return it == teams_.end() ? nullptr : &it->second;
}

schemas::TeamRecord TeamRegistry::Resolved(const schemas::TeamRecord& team) const {
  schemas::TeamRecord r = team;
  if (r.run_time.empty()) r.run_time = defaults_.run_time;
  if (r.timezone.empty()) r.timezone = defaults_.timezone;
  if (r.overlap.empty()) r.overlap = defaults_.overlap;
  if (r.max_attempts == 0) r.max_attempts = defaults_.max_attempts;
  return r;
}

std::vector<schemas::TeamRecord> TeamRegistry::ResolvedAll() const {
  std::vector<schemas::TeamRecord> out;
  out.reserve(teams_.size());
  for (const auto& [id, team] : teams_) out.push_back(Resolved(team));
  return out;
}

common::Result<schemas::TeamRecord> TeamRegistry::PreparePut(
    const schemas::TeamRecord& request, std::int64_t now_unix_ms) const {
  if (Status s = schemas::ValidateTeamRecord(request); !s.ok()) return s;
  // A dependency on a team that does not exist would never run: say so now.
  for (std::uint32_t upstream : request.after) {
    if (upstream != request.id && upstream != common::kGeneralTeam && Find(upstream) == nullptr) {
      return Status::Error(common::Code::kInvalid,
                           common::TeamLabel(request.id) + " cannot run after " +
                               common::TeamLabel(upstream) + ": it does not exist (add it first)");
    }
  }
  schemas::TeamRecord next = request;
  next.v = schemas::kVersion;
  const schemas::TeamRecord* existing = Find(request.id);
  if (existing == nullptr) {
    next.created_unix_ms = now_unix_ms;
    next.schedule_since_unix_ms = now_unix_ms;
    return next;
  }
  next.created_unix_ms = existing->created_unix_ms;
  const schemas::TeamRecord before = Resolved(*existing);
  const schemas::TeamRecord after = Resolved(next);
  const bool schedule_changed = before.run_time != after.run_time ||
                                before.timezone != after.timezone ||
                                before.paused != after.paused;
  // A new schedule only owes fires from now on: the ticker must not
  // "catch up" a fire time that the old schedule never had.
  next.schedule_since_unix_ms =
      schedule_changed ? now_unix_ms : existing->schedule_since_unix_ms;
  return next;
}

void TeamRegistry::Put(const schemas::TeamRecord& team) {
  if (auto old = teams_.find(team.id); old != teams_.end()) Index(old->second, false);
  teams_[team.id] = team;
  Index(team, true);
}

void TeamRegistry::Remove(std::uint32_t id) {
  if (auto old = teams_.find(id); old != teams_.end()) {
    Index(old->second, false);
    teams_.erase(old);
  }
}

date::local_days TeamRegistry::LocalDate(const schemas::TeamRecord& team,
                                         std::chrono::system_clock::time_point now) const {
  auto zone = common::FindZone(Resolved(team).timezone);
  const date::time_zone* tz = zone.ok() ? zone.value() : date::locate_zone("UTC");
  const auto local = tz->to_local(std::chrono::time_point_cast<std::chrono::seconds>(now));
  return date::floor<date::days>(local);
}

std::string TeamRegistry::DefaultPdate(date::local_days local_date) const {
  return common::FormatDate(common::PurchaseDate(local_date, defaults_.purchase_day));
}

}  // namespace broker
