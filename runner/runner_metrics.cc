#include "runner/runner_metrics.h"

#include <string>

namespace runner {

RunnerMetrics::RunnerMetrics(std::string_view runner_id, std::uint32_t slots)
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("daybreak_runner_pipelines_started_total")
                   .Help("Pipeline attempts this runner started")
                   .Register(*registry_)
                   .Add({})),
      results_(prometheus::BuildCounter()
                   .Name("daybreak_runner_results_total")
                   .Help("Attempts that ended on this runner, by outcome (succeeded, transient, "
                         "failed, cancelled)")
                   .Register(*registry_)),
      running_(prometheus::BuildGauge()
                   .Name("daybreak_runner_running_pipelines")
                   .Help("Pipelines running on this runner now")
                   .Register(*registry_)
                   .Add({})),
      unacknowledged_(prometheus::BuildGauge()
                          .Name("daybreak_runner_unacknowledged_results")
                          .Help("Results sent that the broker has not acknowledged yet (resent until it does)")
                          .Register(*registry_)
                          .Add({})) {
  prometheus::BuildGauge()
      .Name("daybreak_runner_slots")
      .Help("Pipelines this runner runs at once (runner.slots)")
      .Register(*registry_)
      .Add({})
      .Set(slots);
  prometheus::BuildGauge()
      .Name("daybreak_runner_info")
      .Help("Always 1; the runner's id as a label")
      .Register(*registry_)
      .Add({{"runner_id", std::string(runner_id)}})
      .Set(1);
}

void RunnerMetrics::Started() { started_.Increment(); }

void RunnerMetrics::Ended(std::string_view outcome) { results_.Add({{"outcome", std::string(outcome)}}).Increment(); }

void RunnerMetrics::Holding(std::size_t running, std::size_t unacknowledged) {
  running_.Set(static_cast<double>(running));
  unacknowledged_.Set(static_cast<double>(unacknowledged));
}

}  // namespace runner
