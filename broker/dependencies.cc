#include "broker/dependencies.h"

#include <spdlog/spdlog.h>

#include "common/team.h"

namespace broker {

bool Dependencies::SucceededOn(std::uint32_t team, const std::string& local_date) {
  // Recent history is enough: a dependency waits for the same day's run.
  constexpr std::size_t kRecentRuns = 200;
  auto runs = journal_.RecentRuns(team, kRecentRuns);
  if (!runs.ok()) {
    spdlog::error("dependencies: cannot read the runs of {}: {}", common::TeamLabel(team),
                  runs.status().ToString());
    return false;
  }
  for (const schemas::RunRecord& r : runs.value()) {
    if (r.local_date == local_date && r.state == schemas::RunState::kSucceeded) return true;
  }
  return false;
}

std::vector<schemas::DueEvent> Dependencies::DueAfter(const schemas::RunRecord& upstream) {
  std::vector<schemas::DueEvent> due;
  for (std::uint32_t id : teams_.DependentsOf(upstream.team)) {
    const schemas::TeamRecord* team = teams_.Find(id);
    if (team == nullptr || team->paused) continue;
    bool ready = true;
    for (std::uint32_t other : team->after) {
      if (other != upstream.team && !SucceededOn(other, upstream.local_date)) ready = false;
    }
    if (!ready) continue;
    schemas::DueEvent chained;
    chained.kind = std::string(schemas::kind::kChained);
    chained.team = team->id;
    chained.key = "after:" + std::to_string(team->id) + ":" + upstream.local_date;
    chained.local_date = upstream.local_date;
    chained.pdate = upstream.pdate;
    chained.requested_by = "after run " + upstream.run_id;
    due.push_back(std::move(chained));
  }
  return due;
}

}  // namespace broker
