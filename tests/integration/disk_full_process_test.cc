// The real broker on a small filesystem (tmpfs) that an operator lets fill:
// it keeps running, refuses new work with no_space, answers reads, says
// "degraded" on /healthz, and takes everything it was holding once space
// returns; started on a full disk it waits, saying why, instead of exiting
// or aborting. Nothing acknowledged is lost on the way.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "schemas/vocabulary.h"
#include "tests/support/cluster.h"
#include "tests/support/small_disk.h"

namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kMiB = 1ull << 20;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `done` every 50 ms until it holds or `deadline` passes.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(50ms);  // polling the broker's own answer
  }
  return true;
}

}  // namespace

TEST_CASE("a full disk degrades the broker until space returns; a start on a full disk waits") {
  testing::SmallDisk disk(64);
  if (!disk.mounted()) {
    MESSAGE("skipped: " << disk.why_not());
    return;
  }
  testing::Cluster cluster({.runners = 1,
                            .ticker = false,
                            .notifier = false,
                            .env = {{"DAYBREAK_MIN_FREE_MB", "16"}},
                            .state_dir = disk.Sub("broker")});
  schemas::TeamRecord team;
  team.id = 1;
  team.overlap = "queue";
  team.command = {"/bin/true"};
  cluster.AddTeam(team);
  const schemas::RunRecord acknowledged = cluster.Trigger(1, "before-full");
  REQUIRE(cluster.WaitForTerminal(acknowledged.run_id).state == schemas::RunState::kSucceeded);
  schemas::ControlRequest ping;
  ping.op = std::string(schemas::op::kPing);

  disk.FillLeaving(8 * kMiB);
  schemas::ControlRequest trigger;
  trigger.op = std::string(schemas::op::kTrigger);
  trigger.team = 1;
  trigger.key = "while-full";
  auto refused = cluster.Call(trigger);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == common::Code::kNoSpace);
  CHECK(refused.status().message().find("broker.min_free_mb") != std::string::npos);
  // Degraded, not down: it answers reads, and says why it is degraded.
  auto pong = cluster.Call(ping);
  REQUIRE(pong.ok());
  CHECK(pong.value().stats.at("no_space") == 1);
  const std::string http = cluster.endpoint("http");
  httplib::Client client(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 503);
  CHECK(health->body.find("no space") != std::string::npos);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("daybreak_broker_degraded{reason=\"no_space\"} 1") != std::string::npos);
  schemas::ControlRequest get;
  get.op = std::string(schemas::op::kRunGet);
  get.run_id = acknowledged.run_id;
  CHECK(cluster.Call(get).ok());
  CHECK(cluster.broker().running());

  disk.Free();
  CHECK(Eventually([&] { return cluster.Call(trigger).ok(); }, 10s));
  CHECK(cluster.Call(ping).value().stats.at("no_space") == 0);
  const schemas::RunRecord later = cluster.Trigger(1, "while-full");  // taken now, once
  CHECK(cluster.WaitForTerminal(later.run_id).state == schemas::RunState::kSucceeded);
  health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  // A restart on a full disk: no exit, no abort; it waits and says why.
  cluster.StopBroker(SIGTERM);
  disk.FillLeaving(8 * kMiB);
  cluster.StartBroker();
  const std::string log = cluster.root() + "/logs/broker-2.log";
  CHECK(Eventually([&] { return Slurp(log).find("not opening the run store yet") != std::string::npos; }, 10s));
  CHECK_FALSE(cluster.WaitForBroker(1s));
  CHECK(cluster.broker().running());
  disk.Free();
  REQUIRE(cluster.WaitForBroker(10s));
  CHECK(cluster.Call(get).value().run.state == schemas::RunState::kSucceeded);
  get.run_id = later.run_id;
  CHECK(cluster.Call(get).value().run.state == schemas::RunState::kSucceeded);
}
