// /metrics of a live cluster in Prometheus's own terms, linted by promtool
// (Debian's prometheus package), and the shipped alert rules checked and
// unit-tested by promtool too.
#include <doctest/doctest.h>
#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <chrono>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/cluster.h"
#include "tests/support/test_process.h"

namespace {

// Runs `command` with a shell, returning its exit status and output.
int Shell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  output->clear();
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) *output += buffer;
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The value of the sample `series` (name and labels, exactly as exposed).
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    ++at;
  }
  return std::nullopt;
}

const char* const kPromtool = "/usr/bin/promtool";

}  // namespace

TEST_CASE("/metrics counts runs by team and state, their durations and streaks, and promtool finds nothing wrong") {
  REQUIRE_MESSAGE(access(kPromtool, X_OK) == 0, "promtool missing: scripts/install-deps installs prometheus");
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  schemas::TeamRecord ok;
  ok.id = 1;
  ok.command = {"/bin/sh", "-c", "sleep 0.2"};
  cluster.AddTeam(ok);
  schemas::TeamRecord bad;
  bad.id = 2;
  bad.command = {"/bin/sh", "-c", "echo broken >&2; exit 3"};
  bad.max_attempts = 1;
  cluster.AddTeam(bad);
  CHECK(cluster.WaitForTerminal(cluster.Trigger(1).run_id).state == schemas::RunState::kSucceeded);
  for (int i = 0; i < 2; ++i) {
    CHECK(cluster.WaitForTerminal(cluster.Trigger(2).run_id).state == schemas::RunState::kFailed);
  }
  const std::string http = cluster.endpoint("http");
  httplib::Client client(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  auto res = client.Get("/metrics");
  REQUIRE(res);
  const std::string& text = res->body;
  CHECK(Sample(text, R"(daybreak_runs_total{state="succeeded",team="1"})") == 1);
  CHECK(Sample(text, R"(daybreak_runs_total{state="failed",team="2"})") == 2);
  CHECK(Sample(text, R"(daybreak_team_consecutive_failures{team="2"})") == 2);
  CHECK(Sample(text, R"(daybreak_team_consecutive_failures{team="1"})") == 0);
  const auto last_success = Sample(text, R"(daybreak_team_last_success_timestamp_seconds{team="1"})");
  REQUIRE(last_success.has_value());
  CHECK(std::abs(*last_success - static_cast<double>(std::time(nullptr))) < 120);
  CHECK(Sample(text, R"(daybreak_run_duration_seconds_count{team="1"})") == 1);
  CHECK(Sample(text, R"(daybreak_run_duration_seconds_bucket{team="1",le="1"})") == 1);  // 0.2 s
  CHECK(Sample(text, R"(daybreak_runners_connected)") == 1);
  CHECK(Sample(text, R"(daybreak_active_runs)") == 0);
  CHECK(Sample(text, R"(daybreak_notifications_failed)") == 0);  // dead letters held (issue 14)
  CHECK(text.find("# TYPE daybreak_runs_total counter") != std::string::npos);
  CHECK(text.find("# TYPE daybreak_run_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("# TYPE daybreak_bad_frames_total counter") != std::string::npos);
  CHECK(text.find("daybreak_broker_figure") == std::string::npos);  // every figure has its name

  const std::string scraped = cluster.root() + "/metrics.txt";
  std::ofstream(scraped) << text;
  std::string out;
  CHECK_MESSAGE(Shell(std::string(kPromtool) + " check metrics < " + scraped, &out) == 0, out);
}

TEST_CASE("a runner's own /metrics counts its pipelines and results by outcome, and promtool finds nothing wrong") {
  REQUIRE_MESSAGE(access(kPromtool, X_OK) == 0, "promtool missing: scripts/install-deps installs prometheus");
  const int port = ::testing::FreePort();
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                            .env = {{"DAYBREAK_RUNNER_METRICS_LISTEN", "127.0.0.1:" + std::to_string(port)},
                                    {"DAYBREAK_SLOTS", "3"}}});
  schemas::TeamRecord ok;
  ok.id = 1;
  ok.command = {"/bin/sh", "-c", "exit 0"};
  cluster.AddTeam(ok);
  schemas::TeamRecord bad;
  bad.id = 2;
  bad.command = {"/bin/sh", "-c", "exit 3"};
  bad.max_attempts = 1;
  cluster.AddTeam(bad);
  CHECK(cluster.WaitForTerminal(cluster.Trigger(1).run_id).state == schemas::RunState::kSucceeded);
  CHECK(cluster.WaitForTerminal(cluster.Trigger(2).run_id).state == schemas::RunState::kFailed);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(std::chrono::seconds(5));
  // The loop sets its gauges each turn: scrape until the turn after the
  // ends has (the broker's ack of the last result), within a deadline.
  std::string text;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    auto res = client.Get("/metrics");
    REQUIRE(res);
    text = res->body;
    const bool settled = Sample(text, "daybreak_runner_running_pipelines") == 0 &&
                         Sample(text, "daybreak_runner_unacknowledged_results") == 0;
    if (settled || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the scrape interval
  }
  CHECK(Sample(text, "daybreak_runner_slots") == 3);
  CHECK(Sample(text, R"(daybreak_runner_info{runner_id="runner-1"})") == 1);
  CHECK(Sample(text, "daybreak_runner_pipelines_started_total") == 2);
  CHECK(Sample(text, R"(daybreak_runner_results_total{outcome="succeeded"})") == 1);
  CHECK(Sample(text, R"(daybreak_runner_results_total{outcome="failed"})") == 1);
  CHECK(Sample(text, "daybreak_runner_running_pipelines") == 0);
  CHECK(Sample(text, "daybreak_runner_unacknowledged_results") == 0);
  CHECK(text.find("# TYPE daybreak_runner_results_total counter") != std::string::npos);
  const std::string scraped = cluster.root() + "/runner-metrics.txt";
  std::ofstream(scraped) << text;
  std::string out;
  CHECK_MESSAGE(Shell(std::string(kPromtool) + " check metrics < " + scraped, &out) == 0, out);
  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE("the shipped alert rules pass promtool's check and their unit tests") {
  REQUIRE_MESSAGE(access(kPromtool, X_OK) == 0, "promtool missing: scripts/install-deps installs prometheus");
  const std::string dir = std::string(DAYBREAK_SOURCE_DIR) + "/deploy/prometheus";
  std::string out;
  CHECK_MESSAGE(Shell(std::string(kPromtool) + " check rules " + dir + "/alerts.yml", &out) == 0, out);
  CHECK(out.find("SUCCESS: 8 rules found") != std::string::npos);
  CHECK_MESSAGE(Shell("cd " + dir + " && " + kPromtool + " test rules alerts_test.yml", &out) == 0, out);
}

TEST_CASE("the notifier reports its progress on the bus, and /metrics shows its lag and each sink's queue") {
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = true, .env = {}});
  schemas::TeamRecord team;
  team.id = 1;
  team.command = {"/bin/true"};
  cluster.AddTeam(team);
  CHECK(cluster.WaitForTerminal(cluster.Trigger(1).run_id).state == schemas::RunState::kSucceeded);
  const std::string http = cluster.endpoint("http");
  httplib::Client client(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  // The run's events (accepted, dispatched, started, completed) delivered
  // by the log sink, and a report that says so: the lag is back to 0.
  std::string text;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    auto res = client.Get("/metrics");
    REQUIRE(res);
    text = res->body;
    const auto delivered = Sample(text, R"(daybreak_notifier_deliveries_total{sink="log"})");
    if (delivered && *delivered >= 4 && Sample(text, "daybreak_notifier_lag_events") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(Sample(text, "daybreak_notifier_lag_events") == 0);
  CHECK(Sample(text, R"(daybreak_notifier_deliveries_total{sink="log"})") >= 4);
  CHECK(Sample(text, R"(daybreak_notifier_queue_depth{sink="log"})") == 0);
  CHECK(Sample(text, R"(daybreak_notifier_undeliverable_total{sink="log"})") == 0);
  const auto age = Sample(text, "daybreak_notifier_report_age_seconds");
  REQUIRE(age.has_value());
  CHECK(*age < 15);
  const std::string scraped = cluster.root() + "/metrics.txt";
  std::ofstream(scraped) << text;
  std::string out;
  CHECK_MESSAGE(Shell(std::string(kPromtool) + " check metrics < " + scraped, &out) == 0, out);
}
