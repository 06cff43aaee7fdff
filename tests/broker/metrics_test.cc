// BrokerMetrics fed by a RunManager: each state change lands in the series
// an operator alerts on.
#include "broker/metrics.h"

#include <doctest/doctest.h>
#include <prometheus/text_serializer.h>

#include "broker/memory_store.h"
#include "tests/broker/harness.h"
#include "tests/support/fake_clock.h"

namespace broker {
namespace {

using namespace testing_support;

std::optional<double> Sample(const BrokerMetrics& metrics, const std::string& series) {
  const std::string text = prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    ++at;
  }
  return std::nullopt;
}

TEST_CASE("runs are counted by team and final state, retries and streaks as they happen") {
  Harness h;
  BrokerMetrics metrics;
  h.m().set_metrics(&metrics);
  h.AddTeam(1);
  h.AddTeam(2, "", 3);  // retries: up to 3 attempts
  h.Hello("runner-a");
  h.RunOnce(1, "runner-a", "succeeded");
  CHECK(Sample(metrics, R"(daybreak_runs_total{state="succeeded",team="1"})") == 1);
  CHECK(Sample(metrics, R"(daybreak_team_consecutive_failures{team="1"})") == 0);
  CHECK(Sample(metrics, R"(daybreak_team_last_success_timestamp_seconds{team="1"})") ==
        static_cast<double>(h.NowMs()) / 1000.0);
  CHECK(Sample(metrics, R"(daybreak_run_duration_seconds_count{team="1"})") == 1);

  const std::string id = h.AdmitOk(2);
  h.Started("runner-a", id, h.OneDispatch("runner-a").attempt);
  h.Result("runner-a", id, 1, "transient", "exit 75");
  CHECK(Sample(metrics, R"(daybreak_run_retries_total{team="2"})") == 1);
  CHECK_FALSE(Sample(metrics, R"(daybreak_runs_total{state="failed",team="2"})"));  // not ended yet
}

TEST_CASE("a scheduled run's lateness is how long after its fire time its first attempt started") {
  Harness h;
  BrokerMetrics metrics;
  h.m().set_metrics(&metrics);
  h.AddTeam(1);
  h.Hello("runner-a");
  const Admission a = h.Admit(h.Scheduled(1, h.NowMs() - 3000));  // due 3 s ago
  REQUIRE(a.status.ok());
  h.Started("runner-a", a.run.run_id, h.OneDispatch("runner-a").attempt);
  CHECK(Sample(metrics, R"(daybreak_fire_lateness_seconds_count{team="1"})") == 1);
  CHECK(Sample(metrics, R"(daybreak_fire_lateness_seconds_sum{team="1"})") == 3.0);
  CHECK(Sample(metrics, R"(daybreak_fire_lateness_seconds_bucket{team="1",le="2.5"})") == 0);
  CHECK(Sample(metrics, R"(daybreak_fire_lateness_seconds_bucket{team="1",le="5"})") == 1);
}

TEST_CASE("the per-team gauges are seeded from the store at start") {
  MemoryStore store;
  {
    Harness first(store);
    first.AddTeam(1);
    first.Hello("runner-a");
    first.RunOnce(1, "runner-a", "failed");
  }
  // A restart on the same store, with the metrics set before Load as the
  // broker's main does.
  TeamRegistry teams(TeamDefaults{});
  ::testing::FakeClock clock;
  RunManager manager(store, teams, clock, TestSettings());
  BrokerMetrics metrics;
  manager.set_metrics(&metrics);
  REQUIRE(manager.Load().ok());
  CHECK(Sample(metrics, R"(daybreak_team_consecutive_failures{team="1"})") == 1);
  CHECK(BrokerMetrics::TeamLabel(0) == "general");
}

}  // namespace
}  // namespace broker
