// RunnerMetrics and MetricsHttp: the runner's series as Prometheus text,
// served over a real loopback socket; a bad or taken address is an error
// naming it.
#include "runner/runner_metrics.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <doctest/doctest.h>

#include "runner/metrics_http.h"
#include "tests/support/test_process.h"

namespace {

std::string Text(const runner::RunnerMetrics& m) {
  return prometheus::TextSerializer().Serialize(m.registry()->Collect());
}

bool Has(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_CASE("RunnerMetrics counts starts and ends by outcome, and holds what the loop holds") {
  runner::RunnerMetrics m("host-a-1", 4);
  CHECK(Has(Text(m), "daybreak_runner_slots 4"));
  CHECK(Has(Text(m), R"(daybreak_runner_info{runner_id="host-a-1"} 1)"));
  CHECK(Has(Text(m), "daybreak_runner_pipelines_started_total 0"));
  m.Started();
  m.Started();
  m.Ended("succeeded");
  m.Ended("transient");
  m.Ended("succeeded");
  m.Holding(1, 2);
  const std::string text = Text(m);
  CHECK(Has(text, "daybreak_runner_pipelines_started_total 2"));
  CHECK(Has(text, R"(daybreak_runner_results_total{outcome="succeeded"} 2)"));
  CHECK(Has(text, R"(daybreak_runner_results_total{outcome="transient"} 1)"));
  CHECK(Has(text, "daybreak_runner_running_pipelines 1"));
  CHECK(Has(text, "daybreak_runner_unacknowledged_results 2"));
  m.Holding(0, 0);
  CHECK(Has(Text(m), "daybreak_runner_running_pipelines 0"));
}

TEST_CASE("MetricsHttp serves /metrics and /healthz; a bad or taken address is an error naming it") {
  runner::RunnerMetrics m("r", 1);
  m.Ended("failed");
  runner::MetricsHttp http(m.registry());
  int port = 0;
  common::Status s;
  for (int attempt = 0; attempt < 5 && (port == 0 || !s.ok()); ++attempt) {
    port = ::testing::FreePort();
    s = http.Start("127.0.0.1:" + std::to_string(port));
  }
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(Has(res->body, R"(daybreak_runner_results_total{outcome="failed"} 1)"));
  res = client.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 200);
  res = client.Get("/nope");
  REQUIRE(res);
  CHECK(res->status == 404);

  runner::MetricsHttp second(m.registry());
  const common::Status taken = second.Start("127.0.0.1:" + std::to_string(port));
  CHECK_FALSE(taken.ok());
  CHECK(taken.message().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  for (const std::string bad : {"7481", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x"}) {
    CAPTURE(bad);
    runner::MetricsHttp other(m.registry());
    const common::Status refused = other.Start(bad);
    CHECK_FALSE(refused.ok());
    CHECK(refused.message().find("\"" + bad + "\"") != std::string::npos);
  }
  http.Stop();
  http.Stop();  // twice is fine
}

}  // namespace
