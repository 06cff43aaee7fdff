// BrokerMetrics: what the broker counts as runs change state, in
// Prometheus's own types (prometheus-cpp): runs ended by team and state,
// retries, run durations and how late scheduled runs started (histograms),
// and per team the last success and the failure streak. The RunManager
// feeds it from Transition, on the loop's thread; the HTTP thread
// serializes the registry for /metrics (prometheus-cpp's metrics are
// thread-safe). Counters count since the broker started, as Prometheus
// expects (rate() handles restarts); a failure streak is seeded from the
// store at start, so it survives one.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "schemas/messages.h"

namespace broker {

class BrokerMetrics {
 public:
  BrokerMetrics();

  // `run` as it enters its new state (the record Transition writes), from
  // `from`; `status` is the team's tally when this change updates it.
  void Observe(const schemas::RunRecord& run, schemas::RunState from,
               const std::optional<std::pair<std::uint32_t, schemas::TeamStatus>>& status);
  // A team's tally as loaded at start: its failure streak when one is on (a
  // missing streak series reads as 0 to alerts); the rest comes with the
  // team's next run.
  void Seed(std::uint32_t team, const schemas::TeamStatus& status);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // The label a team's series carry: "general" or its id.
  static std::string TeamLabel(std::uint32_t team);

 private:
  void SetTeam(std::uint32_t team, const schemas::TeamStatus& status);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& lateness_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& failures_;
};

}  // namespace broker
