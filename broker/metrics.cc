#include "broker/metrics.h"

#include "common/team.h"
#include "schemas/vocabulary.h"

namespace broker {

using schemas::RunState;

namespace {

// Seconds: a pipeline takes seconds to hours; a scheduled start is late by
// the broker's turn (milliseconds), a busy runner pool, or a misfire.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400};
const prometheus::Histogram::BucketBoundaries kLatenessBuckets = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600};

}  // namespace

std::string BrokerMetrics::TeamLabel(std::uint32_t team) {
  return team == common::kGeneralTeam ? "general" : std::to_string(team);
}

BrokerMetrics::BrokerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      runs_(prometheus::BuildCounter()
                .Name("daybreak_runs_total")
                .Help("Runs that ended, by team and final state (succeeded, failed, missed, "
                      "skipped, cancelled)")
                .Register(*registry_)),
      retries_(prometheus::BuildCounter()
                   .Name("daybreak_run_retries_total")
                   .Help("Attempts that ended in a retry (transient failure, lost runner, timeout)")
                   .Register(*registry_)),
      duration_(prometheus::BuildHistogram()
                    .Name("daybreak_run_duration_seconds")
                    .Help("From a run's start to its end, for runs that succeeded or failed")
                    .Register(*registry_)),
      lateness_(prometheus::BuildHistogram()
                    .Name("daybreak_fire_lateness_seconds")
                    .Help("How long after its scheduled time a scheduled run's first attempt started")
                    .Register(*registry_)),
      last_success_(prometheus::BuildGauge()
                        .Name("daybreak_team_last_success_timestamp_seconds")
                        .Help("When the team's last successful run ended (Unix time)")
                        .Register(*registry_)),
      failures_(prometheus::BuildGauge()
                    .Name("daybreak_team_consecutive_failures")
                    .Help("Runs of the team that failed in a row since its last success")
                    .Register(*registry_)) {}

void BrokerMetrics::SetTeam(std::uint32_t team, const schemas::TeamStatus& status) {
  const std::string label = TeamLabel(team);
  failures_.Add({{"team", label}}).Set(status.consecutive_failures);
  if (status.last_success_unix_ms > 0) {
    last_success_.Add({{"team", label}}).Set(static_cast<double>(status.last_success_unix_ms) / 1000.0);
  }
}

void BrokerMetrics::Seed(std::uint32_t team, const schemas::TeamStatus& status) {
  // A series costs memory (a broker may hold 100,000 teams, and a last
  // success series for each was 30 MiB): at start only a streak that is
  // on; a team's next run adds the rest. A team that never succeeds again
  // after a restart is the broker's own no_success alert's (from the store).
  if (status.consecutive_failures > 0) {
    failures_.Add({{"team", TeamLabel(team)}}).Set(status.consecutive_failures);
  }
}

void BrokerMetrics::Observe(const schemas::RunRecord& run, RunState from,
                            const std::optional<std::pair<std::uint32_t, schemas::TeamStatus>>& status) {
  const std::string team = TeamLabel(run.team);
  if (run.state == RunState::kRunning && from == RunState::kDispatched && run.attempt == 1 &&
      run.kind == schemas::kind::kScheduled && run.fire_unix_ms > 0 && run.started_unix_ms > 0) {
    const double late = static_cast<double>(run.started_unix_ms - run.fire_unix_ms) / 1000.0;
    lateness_.Add({{"team", team}}, kLatenessBuckets).Observe(late < 0 ? 0 : late);
  }
  if (run.state == RunState::kRetryWait) retries_.Add({{"team", team}}).Increment();
  if (schemas::IsTerminal(run.state)) {
    runs_.Add({{"team", team}, {"state", std::string(schemas::Name(run.state))}}).Increment();
    if ((run.state == RunState::kSucceeded || run.state == RunState::kFailed) &&
        run.started_unix_ms > 0 && run.finished_unix_ms >= run.started_unix_ms) {
      duration_.Add({{"team", team}}, kDurationBuckets)
          .Observe(static_cast<double>(run.finished_unix_ms - run.started_unix_ms) / 1000.0);
    }
  }
  if (status) SetTeam(status->first, status->second);
}

}  // namespace broker
