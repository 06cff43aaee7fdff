// Failed notifications for real (issue 14): a broker, runners and the
// daybreak-notifier binary on loopback, a webhook that refuses, and the
// `daybreak notifications` commands an operator would type.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "tests/notifier/receivers.h"
#include "tests/support/cluster.h"

namespace {

using namespace std::chrono_literals;
using testing::Cluster;

// `daybreak notifications failed --json`, parsed (a JSON array).
nlohmann::json FailedList(Cluster& cluster) {
  std::string out;
  const int code = cluster.RunTool({"daybreak", "notifications", "failed", "--json"}, &out);
  REQUIRE_MESSAGE(code == 0, out);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_array(), out);
  return j;
}

// Polls the failed list until `done`, for `deadline` at most.
nlohmann::json WaitForFailed(Cluster& cluster, const std::function<bool(const nlohmann::json&)>& done,
                             std::chrono::milliseconds deadline = 20s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (true) {
    nlohmann::json list = FailedList(cluster);
    if (done(list) || std::chrono::steady_clock::now() >= until) return list;
    std::this_thread::sleep_for(100ms);  // polling the broker
  }
}

}  // namespace

TEST_CASE("a notification a webhook refused is listed with its reason, and redelivered once it accepts") {
  testing::ClusterOptions options;
  options.runners = 1;
  options.ticker = false;
  options.notifier = false;
  options.env = {{"DAYBREAK_MAX_ATTEMPTS", "1"}};
  Cluster cluster(options);
  testing::TempDir dir;
  const std::string refusing = dir.Sub("refusing");
  std::ofstream(refusing) << "while this file exists the receiver answers 404\n";
  testing::Receiver webhook(dir, "webhook", {"--status", "404", "--fail-while", refusing});
  const std::string config = cluster.root() + "/notifier.toml";
  std::ofstream(config) << fmt::format(R"(
[notifier]
retry_initial_s = 0.1
retry_max_s = 0.2
retry_budget_s = 1
dead_letter_sync_s = 0.2

[notifier.webhook]
url = "{}"
events = ["run.failed"]
)", webhook.url());
  testing::TestProcess notifier(
      {std::string(DAYBREAK_BIN_DIR) + "/daybreak-notifier", "-c", config, "--cursor",
       cluster.root() + "/notifier-state/cursor"},
      cluster.Environment(), cluster.root() + "/logs/notifier-under-test.log");

  schemas::TeamRecord team;
  team.id = 2;
  team.max_attempts = 1;
  team.command = {"/bin/false"};
  cluster.AddTeam(team);
  const schemas::RunRecord run = cluster.Trigger(2);
  REQUIRE(cluster.WaitForTerminal(run.run_id).state == schemas::RunState::kFailed);

  // 1. The webhook refused it (a 404 is not retried): listed, with why.
  const nlohmann::json failed = WaitForFailed(cluster, [](const nlohmann::json& l) { return !l.empty(); });
  REQUIRE_MESSAGE(failed.size() == 1, failed.dump());
  const nlohmann::json& letter = failed[0];
  CHECK(letter["sink"] == "webhook");
  CHECK(letter["topic"] == "run.failed");
  CHECK(letter["run_id"] == run.run_id);
  CHECK(letter["team"] == 2);
  CHECK(letter["attempts"] == 1);
  CHECK_MESSAGE(letter["reason"].get<std::string>().find("404") != std::string::npos, letter.dump());
  CHECK(letter["redeliver"] == false);
  CHECK(letter["failed_utc"].is_string());
  std::string table;
  REQUIRE(cluster.RunTool({"daybreak", "notifications", "failed"}, &table) == 0);
  CHECK_MESSAGE(table.find("SINK") != std::string::npos, table);
  CHECK(table.find(run.run_id) != std::string::npos);

  // 2. With no selector nothing is sent again (usage exit).
  std::string out;
  CHECK(cluster.RunTool({"daybreak", "notifications", "redeliver"}, &out) == 2);
  CHECK(out.find("--all") != std::string::npos);

  // 3. The receiver accepts from now on; the operator asks for it again.
  std::filesystem::remove(refusing);
  REQUIRE_MESSAGE(cluster.RunTool({"daybreak", "notifications", "redeliver", "--all"}, &out) == 0, out);
  CHECK_MESSAGE(out.find("1 notification queued for redelivery") != std::string::npos, out);

  // 4. The webhook gets the event, with the same event id, and the list empties.
  const auto records = webhook.WaitFor([&](const std::vector<nlohmann::json>& rs) {
    for (const auto& r : rs) {
      if (r["status"] == 200 && r["json"].is_object() && r["json"]["run"]["run_id"] == run.run_id) return true;
    }
    return false;
  });
  bool got = false;
  std::string refused_id, delivered_id;
  for (const auto& r : records) {
    if (!r["json"].is_object() || r["json"]["run"]["run_id"] != run.run_id) continue;
    (r["status"] == 200 ? delivered_id : refused_id) = r["event_id"].get<std::string>();
    got = got || r["status"] == 200;
  }
  REQUIRE(got);
  CHECK(delivered_id == refused_id);  // the receiver can dedup it
  CHECK(WaitForFailed(cluster, [](const nlohmann::json& l) { return l.empty(); }).empty());
  // And the broker's figure follows.
  schemas::ControlRequest stats;
  stats.op = "stats";
  auto reply = cluster.Call(stats);
  REQUIRE(reply.ok());
  CHECK(reply.value().stats.at("notifications_failed") == 0);
}
