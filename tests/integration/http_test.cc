// The broker's HTTP face: health, metrics, JSON API and the dashboard page.
#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/support/cluster.h"

TEST_CASE("the broker serves health, metrics, the JSON API and a dashboard over HTTP") {
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  cluster.MakeSample(0, 25, "2025-06-02");
  const auto run = cluster.WaitForTerminal(cluster.Trigger(0).run_id);
  REQUIRE(run.state == schemas::RunState::kSucceeded);
  const std::string http = cluster.endpoint("http");
  httplib::Client client(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  client.set_connection_timeout(5);

  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(nlohmann::json::parse(health->body)["ok"] == true);

  auto runs = client.Get("/api/runs?limit=10");
  REQUIRE(runs);
  auto list = nlohmann::json::parse(runs->body);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["run_id"] == run.run_id);
  CHECK(list[0]["total_loans"] == 25);

  auto one = client.Get(("/api/runs/" + run.run_id).c_str());
  REQUIRE(one);
  CHECK(nlohmann::json::parse(one->body)["state"] == "succeeded");
  auto missing = client.Get("/api/runs/r9999999999");
  REQUIRE(missing);
  CHECK(missing->status == 404);

  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("daybreak_broker_up 1") != std::string::npos);
  CHECK(metrics->body.find("daybreak_recent_runs{state=\"succeeded\"} 1") != std::string::npos);
  CHECK(metrics->body.find("\ndaybreak_runners_connected 1") != std::string::npos);

  auto page = client.Get("/");
  REQUIRE(page);
  CHECK(page->body.find("<title>Daybreak</title>") != std::string::npos);
}
