// Backups through the real programs: `daybreak backup create/list/verify`
// against the live broker, then the store is damaged and `daybreak backup
// restore` run while the broker is stopped; the broker starts on the
// restored store as a new incarnation, with every run acknowledged before
// the backup and without the ones after it.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <filesystem>
#include <string>

#include "schemas/vocabulary.h"
#include "tests/support/cluster.h"

namespace {

nlohmann::json Json(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    FAIL("not JSON: " << text);
    return {};
  }
}

}  // namespace

TEST_CASE("daybreak backup create, list, verify on a live broker; a damaged store restored on a stopped one") {
  testing::Cluster cluster({.runners = 1,
                            .ticker = false,
                            .notifier = false,
                            .env = {{"DAYBREAK_BACKUP_EVERY_H", "0"}}});
  schemas::TeamRecord team;
  team.id = 1;
  team.overlap = "queue";
  team.command = {"/bin/true"};
  cluster.AddTeam(team);
  const schemas::RunRecord kept = cluster.Trigger(1, "in-the-backup");
  REQUIRE(cluster.WaitForTerminal(kept.run_id).state == schemas::RunState::kSucceeded);

  std::string out;
  REQUIRE_MESSAGE(cluster.RunTool({"daybreak", "backup", "create", "--json"}, &out) == 0, out);
  const nlohmann::json created = Json(out);
  REQUIRE(created.size() == 1);
  CHECK(created[0]["id"] == 1);
  CHECK(created[0]["last_seq"].get<std::uint64_t>() > 0);
  // The default folder: beside the state folder.
  CHECK(std::filesystem::exists(cluster.root() + "/var/backups"));

  const schemas::RunRecord lost = cluster.Trigger(1, "after-the-backup");
  REQUIRE(cluster.WaitForTerminal(lost.run_id).state == schemas::RunState::kSucceeded);
  REQUIRE(cluster.RunTool({"daybreak", "backup", "list"}, &out) == 0);
  CHECK(out.find("backup 1") != std::string::npos);
  REQUIRE_MESSAGE(cluster.RunTool({"daybreak", "backup", "verify", "1"}, &out) == 0, out);
  CHECK(out.find("every file is whole") != std::string::npos);
  CHECK(cluster.RunTool({"daybreak", "backup", "verify", "9"}, &out) == 1);
  CHECK(out.find("no backup 9") != std::string::npos);

  schemas::ControlRequest ping;
  ping.op = std::string(schemas::op::kPing);
  const std::string incarnation_before = cluster.Call(ping).value().incarnation;

  // Refused while the broker runs: the folder is in use.
  CHECK(cluster.RunTool({"daybreak", "backup", "restore", "1"}, &out) == 1);
  CHECK(out.find("stop it") != std::string::npos);

  cluster.StopBroker(SIGTERM);
  // The store is damaged: the broker refuses it, and the backup is the way out.
  REQUIRE(std::filesystem::remove(cluster.root() + "/var/broker/CURRENT"));
  REQUIRE_MESSAGE(cluster.RunTool({"daybreak", "backup", "restore", "1"}, &out) == 0, out);
  CHECK(out.find("kept at") != std::string::npos);
  bool aside = false;  // the damaged folder is kept, never deleted
  for (const auto& entry : std::filesystem::directory_iterator(cluster.root() + "/var")) {
    aside = aside || entry.path().filename().string().starts_with("broker.before-restore-");
  }
  CHECK(aside);
  cluster.StartBroker();
  REQUIRE(cluster.WaitForBroker());
  const schemas::ControlReply pong = cluster.Call(ping).value();
  CHECK(pong.incarnation != incarnation_before);
  CHECK(pong.incarnation_from == created[0]["last_seq"].get<std::uint64_t>());
  schemas::ControlRequest get;
  get.op = std::string(schemas::op::kRunGet);
  get.run_id = kept.run_id;
  CHECK(cluster.Call(get).value().run.state == schemas::RunState::kSucceeded);
  get.run_id = lost.run_id;
  CHECK(cluster.Call(get).status().code() == common::Code::kNotFound);
  // And it goes on: the lost run's key is free again, as a new run.
  const schemas::RunRecord again = cluster.Trigger(1, "after-the-backup");
  CHECK(cluster.WaitForTerminal(again.run_id).state == schemas::RunState::kSucceeded);
}
