// The real broker on a real folder whose database lost its CURRENT file:
// it refuses at every start, as a supervisor would restart it, and leaves
// the old data alone; with --accept-data-loss it starts on what was
// recovered, keeps the acknowledged runs and raises the data-loss alert.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>
#include <string>

#include "schemas/codec.h"
#include "schemas/control_client.h"
#include "schemas/topics.h"
#include "schemas/vocabulary.h"
#include "tests/support/cluster.h"
#include "tests/support/test_process.h"

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("a broker whose store lost CURRENT refuses every restart until told to accept the loss") {
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  schemas::TeamRecord team;
  team.id = 1;
  team.command = {"/bin/true"};
  cluster.AddTeam(team);
  const schemas::RunRecord run = cluster.Trigger(1);
  REQUIRE(cluster.WaitForTerminal(run.run_id).state == schemas::RunState::kSucceeded);
  schemas::ControlRequest ping;
  ping.op = std::string(schemas::op::kPing);
  const auto before = cluster.Call(ping);
  REQUIRE(before.ok());
  REQUIRE_FALSE(before.value().incarnation.empty());
  // The consistency check reads the live broker's store beside it.
  std::string checked;
  CHECK(cluster.RunTool({"daybreak-broker", "--check"}, &checked) == 0);
  CHECK_MESSAGE(checked.find("no problems") != std::string::npos, checked);
  cluster.StopBroker(SIGKILL);
  const std::filesystem::path state = cluster.root() + "/var/broker";
  REQUIRE(std::filesystem::remove(state / "CURRENT"));

  const std::string binary = std::string(DAYBREAK_BIN_DIR) + "/daybreak-broker";
  for (int start = 1; start <= 2; ++start) {
    CAPTURE(start);
    const std::string log = cluster.root() + "/logs/damaged-" + std::to_string(start) + ".log";
    testing::TestProcess broker({binary}, cluster.Environment(), log);
    auto status = broker.Wait(std::chrono::seconds(20));
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 1);
    const std::string text = ReadAll(log);
    CHECK_MESSAGE(text.find("CURRENT file is missing") != std::string::npos, text);
    CHECK(text.find("--accept-data-loss") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(state / "CURRENT"));  // no new database over the old
  }
  std::string damaged;
  CHECK(cluster.RunTool({"daybreak-broker", "--check"}, &damaged) == 1);
  CHECK_MESSAGE(damaged.find("no database") != std::string::npos, damaged);

  testing::TestProcess accepted({binary, "--accept-data-loss"}, cluster.Environment(),
                                cluster.root() + "/logs/accepted.log");
  REQUIRE(cluster.WaitForBroker());
  // The alert is in the event log, where the notifier reads it from.
  zmq::context_t context;
  schemas::ControlClient control(context, cluster.endpoint("control"));
  std::optional<schemas::AlertEvent> alert;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!alert && std::chrono::steady_clock::now() < deadline) {
    schemas::ControlRequest since;
    since.op = std::string(schemas::op::kEventsSince);
    auto reply = control.Call(since, std::chrono::seconds(2));
    REQUIRE(reply.ok());
    for (const schemas::LoggedEvent& e : reply.value().events) {
      if (e.topic != schemas::AlertTopic(schemas::alert::kDataLoss)) continue;
      auto decoded = schemas::DecodeAlertEvent(std::string(e.payload.begin(), e.payload.end()));
      REQUIRE(decoded.ok());
      alert = decoded.value();
    }
  }
  REQUIRE_MESSAGE(alert.has_value(), "no alert." << schemas::alert::kDataLoss << " in the event log");
  CHECK(alert->message.find("CURRENT") != std::string::npos);
  // A store that may differ from what was announced is a new incarnation,
  // and says where its own events begin: event ids ("<incarnation>:<seq>")
  // never repeat, though seqs may.
  const auto after = cluster.Call(ping);
  REQUIRE(after.ok());
  CHECK_FALSE(after.value().incarnation.empty());
  CHECK(after.value().incarnation != before.value().incarnation);
  CHECK(after.value().incarnation_from <= before.value().last_seq);
  CHECK(alert->incarnation == after.value().incarnation);
  CHECK(alert->seq > after.value().incarnation_from);
  CHECK(cluster.WaitForTerminal(run.run_id).state == schemas::RunState::kSucceeded);
  accepted.Stop(SIGTERM, std::chrono::seconds(5));
}
