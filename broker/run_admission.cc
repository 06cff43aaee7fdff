// The admission half of the RunManager: what becomes of a due event (a new
// run accepted, queued, skipped or missed, a duplicate, or refused) and a
// backfill's due events. run_manager.cc holds the run's later life.
#include <spdlog/spdlog.h>

#include "broker/missed_dates.h"
#include "broker/run_manager.h"
#include "common/run_key.h"
#include "common/schedule.h"
#include "common/team.h"

namespace broker {

using common::Code;
using common::Result;
using common::Status;
using schemas::RunRecord;
using schemas::RunState;
namespace kind = schemas::kind;

RunState RunManager::AdmittedState(const schemas::DueEvent& due, const schemas::TeamRecord& team,
                                   std::int64_t now_ms, RunRecord& run) const {
  const std::int64_t late_ms = now_ms - due.fire_unix_ms;
  const auto holder = queue_.Holder(run.team);
  if (due.kind == kind::kScheduled && late_ms > settings_.misfire_grace.count()) {
    run.error = "fire time missed by " + std::to_string(late_ms / 1000) + " s (grace " +
                std::to_string(settings_.misfire_grace.count() / 1000) + " s)";
    return RunState::kMissed;
  }
  // Backfills and chained runs were asked for explicitly: they wait.
  if (holder && team.overlap == schemas::overlap::kSkip && due.kind != kind::kBackfill &&
      due.kind != kind::kChained) {
    run.error = common::TeamLabel(run.team) + " is busy with run " + *holder +
                (lock_holds_.count(*holder) != 0 ? " (its lost attempt may still be running)" : "");
    return RunState::kSkipped;
  }
  return queue_.Busy(run.team) ? RunState::kQueued : RunState::kAccepted;
}

Admission RunManager::Admit(const schemas::DueEvent& event) {
  // A release-1 ticker still running during an upgrade names the date with
  // its time of day: the same run.
  schemas::DueEvent due = event;
  if (auto current = common::CurrentFormOfReleaseOneKey(due.key)) due.key = *std::move(current);
  Admission result;
  const schemas::TeamRecord* team = teams_.Find(due.team);
  if (team == nullptr) {
    result.status = Status::Error(Code::kNotFound, common::TeamLabel(due.team) + " does not exist");
    return result;
  }
  if (!due.key.empty()) {
    auto existing = journal_.FindRunIdByKey(due.key);
    if (existing.ok()) {
      auto run = FindRun(existing.value());
      if (!run.ok()) {
        result.status = run.status();
        return result;
      }
      ++duplicates_;
      result.run = run.value();
      result.duplicate = true;
      return result;
    }
    if (existing.status().code() != Code::kNotFound) {
      result.status = existing.status();
      return result;
    }
  }
  const schemas::TeamRecord resolved = teams_.Resolved(*team);
  const std::int64_t now_ms = WallMs();
  auto admit_new = [&](const schemas::DueEvent& d) {
    RunRecord run;
    run.run_id = RunIdFor(next_run_number_++);
    run.key = d.key.empty() ? "manual:" + run.run_id : d.key;
    run.team = d.team;
    run.kind = d.kind;
    run.fire_unix_ms = d.kind == kind::kManual ? now_ms : d.fire_unix_ms;
    run.local_date = d.local_date.empty()
                         ? common::FormatDate(teams_.LocalDate(resolved, clock_.WallNow()))
                         : d.local_date;
    run.pdate = d.pdate.empty() ? teams_.DefaultPdate(common::ParseDate(run.local_date).value())
                                : d.pdate;
    run.accepted_unix_ms = now_ms;
    run.max_attempts = resolved.max_attempts;
    run.requested_by = d.requested_by;
    const RunState state = AdmittedState(d, resolved, now_ms, run);
    Extras extras;
    extras.new_run = true;
    return Transition(run, state, std::move(extras));
  };
  // One due may stand for several days (a ticker that was down owes only
  // its latest fire): each date before it that nothing recorded is admitted
  // first, as if its due came now, so a missed date is never silent.
  auto earlier = UnrecordedDatesBefore(due, resolved, [&](const std::string& key) -> Result<bool> {
    auto id = journal_.FindRunIdByKey(key);
    if (id.ok()) return true;
    if (id.status().code() == Code::kNotFound) return false;
    return id.status();
  });
  if (!earlier.ok()) {
    result.status = earlier.status();
    return result;
  }
  for (const schemas::DueEvent& d : earlier.value()) admit_new(d);
  result.run = admit_new(due);
  Dispatch();
  return result;
}

Result<std::vector<Admission>> RunManager::Backfill(std::uint32_t team_id, const std::string& from,
                                                    const std::string& to, int max_days,
                                                    const std::string& requested_by) {
  const schemas::TeamRecord* team = teams_.Find(team_id);
  if (team == nullptr) return Status::Error(Code::kNotFound, common::TeamLabel(team_id) + " does not exist");
  auto first = common::ParseDate(from);
  if (!first.ok()) return first.status();
  auto last = common::ParseDate(to);
  if (!last.ok()) return last.status();
  const int days = (last.value() - first.value()).count() + 1;
  if (days < 1) return Status::Error(Code::kInvalid, "backfill range " + from + " to " + to + " runs backwards");
  if (days > max_days) {
    return Status::Error(Code::kInvalid, "backfill range " + from + " to " + to + " is " +
                                             std::to_string(days) + " days; the limit is " +
                                             std::to_string(max_days));
  }
  const schemas::TeamRecord resolved = teams_.Resolved(*team);
  const common::DailySchedule schedule{common::ParseTimeOfDay(resolved.run_time).value(),
                                       common::FindZone(resolved.timezone).value()};
  std::vector<Admission> admitted;
  for (auto day = first.value(); day <= last.value(); day += date::days(1)) {
    const common::Fire fire = common::FireOn(schedule, day);
    schemas::DueEvent due;
    due.kind = std::string(kind::kBackfill);
    due.team = team_id;
    due.key = common::ScheduledRunKey(team_id, day);
    due.fire_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(fire.at.time_since_epoch()).count();
    due.local_date = common::FormatDate(day);
    due.requested_by = requested_by;
    admitted.push_back(Admit(due));
    if (!admitted.back().status.ok()) return admitted.back().status;
  }
  return admitted;
}

}  // namespace broker
