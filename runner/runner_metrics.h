// RunnerMetrics: what one runner did and holds, as Prometheus series
// (prometheus-cpp; its series are thread-safe, so the loop writes them and
// MetricsHttp's thread reads them): slots, pipelines running, results
// waiting for the broker's ack, and results by outcome (the broker counts
// runs by team: daybreak_runs_total).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace runner {

class RunnerMetrics {
 public:
  RunnerMetrics(std::string_view runner_id, std::uint32_t slots);

  // A pipeline started (its attempt is running here).
  void Started();
  // An attempt ended here with `outcome` (schemas::outcome), reported to
  // the broker (once per attempt, however often it is resent).
  void Ended(std::string_view outcome);
  // What the loop holds now.
  void Holding(std::size_t running, std::size_t unacknowledged);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& started_;
  prometheus::Family<prometheus::Counter>& results_;
  prometheus::Gauge& running_;
  prometheus::Gauge& unacknowledged_;
};

}  // namespace runner
