// The whole system, for real: four kinds of processes on loopback, a real
// RocksDB and real pipeline runs in a temp dir.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "tests/support/cluster.h"

namespace {

using testing::BusWatcher;
using testing::Cluster;
using testing::ListFiles;

bool Contains(const std::vector<std::string>& names, const std::string& prefix) {
  for (const auto& n : names) {
    if (n.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("runs for two teams and the general run write only their own folders and survive a broker restart") {
  Cluster cluster;
  cluster.MakeSample(1, 400, "2025-06-02");
  cluster.MakeSample(2, 300, "2025-06-02");
  cluster.MakeSample(0, 200, "2025-06-02");
  schemas::TeamRecord t1;
  t1.id = 1;
  cluster.AddTeam(t1);
  schemas::TeamRecord t2;
  t2.id = 2;
  cluster.AddTeam(t2);
  BusWatcher bus(cluster, {"run."});

  std::map<std::uint32_t, std::string> run_of;
  for (std::uint32_t team : {1u, 2u, 0u}) run_of[team] = cluster.Trigger(team).run_id;

  std::map<std::uint32_t, std::int64_t> loans = {{1, 400}, {2, 300}, {0, 200}};
  for (const auto& [team, run_id] : run_of) {
    auto done = bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
      return e.run.run_id == run_id && (e.event == "completed" || e.event == "failed");
    });
    if (!done) {
      const auto run = cluster.WaitForTerminal(run_id, std::chrono::milliseconds(1));
      FAIL("no end event for " << run_id << " (state " << run.state << ", error " << run.error
                               << "); events seen " << bus.run_events().size() << "; logs in " << cluster.root());
    }
    CHECK(done->event == "completed");
    CHECK(done->run.team == team);
    CHECK(done->run.total_loans == loans[team]);
    CHECK(done->run.exceptions_count > 0);
    CHECK(done->run.attempt == 1);
    // The files it read, as the pipeline reported them: that team's own tape.
    const std::string folder = team == 0 ? "inputs/files_required" : "inputs/sales_team_" + std::to_string(team) + "/files_required";
    REQUIRE(done->run.inputs.count("loan_tape") == 1);
    CHECK(done->run.inputs.at("loan_tape") == cluster.data(folder + "/loan_tape_20250602.csv"));
  }

  SUBCASE("each run's events arrive in lifecycle order with increasing seqs") {
    for (const auto& [team, run_id] : run_of) {
      std::vector<std::string> events;
      std::uint64_t last_seq = 0;
      for (const auto& e : bus.run_events()) {
        if (e.run.run_id != run_id) continue;
        events.push_back(e.event);
        CHECK(e.seq > last_seq);
        last_seq = e.seq;
      }
      CHECK(events == std::vector<std::string>{"accepted", "dispatched", "started", "completed"});
    }
  }

  SUBCASE("run show lists the input files the run read") {
    std::string out;
    REQUIRE(cluster.RunTool({"daybreak", "run", "show", run_of[1]}, &out) == 0);
    CHECK(out.find("input      loan_tape " + cluster.data("inputs/sales_team_1/files_required/loan_tape_20250602.csv")) !=
          std::string::npos);
    CHECK(out.find("input      price_grid ") != std::string::npos);
  }

  SUBCASE("logs prints the run's log from the runner's folder (one host)") {
    std::string out;
    REQUIRE(cluster.RunTool({"daybreak", "logs", run_of[2]}, &out) == 0);
    CHECK(out.find("loan-tape") != std::string::npos);  // the reference pipeline's summary line
    CHECK(out.find("300 loans") != std::string::npos);
  }

  SUBCASE("outputs land in each team's own folders, whole") {
    for (const char* team_dir : {"outputs/sales_team_1", "outputs/sales_team_2", "outputs"}) {
      const auto output = ListFiles(cluster.data(std::string(team_dir) + "/output"));
      const auto share = ListFiles(cluster.data(std::string(team_dir) + "/output_share"));
      CAPTURE(team_dir);
      CHECK(Contains(output, "purchase_"));
      CHECK(Contains(output, "exceptions_"));
      CHECK(Contains(output, "result_20"));  // the pipeline's result file, promoted too
      CHECK(Contains(share, "summary_"));
      for (const auto& name : output) CHECK(name.find(".tmp") == std::string::npos);
      CHECK(ListFiles(cluster.data(std::string(team_dir) + "/.staging")).empty());
    }
    // The general run's folders hold the general files only, no team's.
    CHECK(ListFiles(cluster.data("outputs/output")).size() ==
          ListFiles(cluster.data("outputs/sales_team_1/output")).size());
  }

  SUBCASE("the notifier tells people about every completed run") {
    const std::string log = cluster.root() + "/logs/notifier.log";
    for (const auto& [team, run_id] : run_of) {
      CHECK(testing::WaitForText(log, "run " + run_id + " " + (team == 0 ? std::string("general") : "team " + std::to_string(team)) + " completed"));
    }
  }

  SUBCASE("run records and teams are all there after a broker restart") {
    cluster.StopBroker(SIGTERM);
    cluster.StartBroker();
    REQUIRE(cluster.WaitForBroker());
    schemas::ControlRequest list;
    list.op = "runs.list";
    auto runs = cluster.Call(list);
    REQUIRE(runs.ok());
    REQUIRE(runs.value().runs.size() == 3);
    for (const auto& run : runs.value().runs) {
      CHECK(run.state == schemas::RunState::kSucceeded);
      CHECK(run.total_loans == loans[run.team]);
    }
    schemas::ControlRequest teams;
    teams.op = "teams.list";
    auto t = cluster.Call(teams);
    REQUIRE(t.ok());
    CHECK(t.value().teams.size() == 3);  // general, 1 and 2
    // And it still works: a new run after the restart gets a new id.
    auto again = cluster.Trigger(1);
    CHECK(again.run_id > runs.value().runs.front().run_id);
    CHECK(cluster.WaitForTerminal(again.run_id).state == schemas::RunState::kSucceeded);
  }
}

TEST_CASE("the same run key twice is one run") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  cluster.MakeSample(0, 50, "2025-06-02");
  const auto first = cluster.Trigger(0, "my-key-1");
  const auto second = cluster.Trigger(0, "my-key-1");
  CHECK(first.run_id == second.run_id);
  CHECK(cluster.WaitForTerminal(first.run_id).state == schemas::RunState::kSucceeded);
  const auto third = cluster.Trigger(0, "my-key-1");
  CHECK(third.run_id == first.run_id);
  CHECK(third.state == schemas::RunState::kSucceeded);  // not run again
  schemas::ControlRequest list;
  list.op = "runs.list";
  CHECK(cluster.Call(list).value().runs.size() == 1);
}

TEST_CASE("a team without input waits by retrying, then fails and raises one alert") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                   .env = {{"DAYBREAK_FAILURE_ALERT_THRESHOLD", "2"}, {"DAYBREAK_MAX_ATTEMPTS", "2"}}});
  schemas::TeamRecord team;
  team.id = 5;
  cluster.AddTeam(team);
  testing::BusWatcher bus(cluster, {"run.", "alert."});
  const auto first = cluster.WaitForTerminal(cluster.Trigger(5).run_id);
  CHECK(first.state == schemas::RunState::kFailed);
  CHECK(first.attempt == 2);
  CHECK(first.exit_code == 75);
  CHECK(bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
    return e.run.run_id == first.run_id && e.event == "retrying";
  }).has_value());
  CHECK_FALSE(bus.WaitForAlert([](const auto&) { return true; }, std::chrono::milliseconds(300)));
  const auto second = cluster.WaitForTerminal(cluster.Trigger(5).run_id);
  CHECK(second.state == schemas::RunState::kFailed);
  auto alert = bus.WaitForAlert([](const schemas::AlertEvent& a) { return a.kind == "consecutive_failures"; });
  REQUIRE(alert.has_value());
  CHECK(alert->team == 5);
  CHECK(alert->count == 2);
  // Input arrives; the next run succeeds and the alert is cleared.
  cluster.MakeSample(5, 20, "2025-06-02");
  const auto third = cluster.WaitForTerminal(cluster.Trigger(5).run_id);
  CHECK(third.state == schemas::RunState::kSucceeded);
  auto recovered = bus.WaitForAlert([](const schemas::AlertEvent& a) { return a.kind == "recovered"; });
  CHECK(recovered.has_value());
}

TEST_CASE("a python script written from PROTOCOL.md triggers a run and follows it") {
  const std::string script = std::string(DAYBREAK_SOURCE_DIR) + "/scripts/examples/trigger_run.py";
  if (!std::filesystem::exists(script) || !std::filesystem::exists("/usr/bin/python3")) {
    FAIL("missing " << script << " or /usr/bin/python3");
  }
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  cluster.MakeSample(0, 30, "2025-06-02");
  const std::string log = cluster.root() + "/logs/python.log";
  testing::TestProcess python({"/usr/bin/python3", script, "--general", "--timeout", "30"},
                              cluster.Environment(), log);
  auto status = python.Wait(std::chrono::seconds(40));
  REQUIRE(status.has_value());
  INFO(testing::ReadFile(log));
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(testing::ReadFile(log).find("completed") != std::string::npos);
}

TEST_CASE("a notifier added with --from-newest does not replay history, and resumes from its cursor") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  cluster.MakeSample(0, 10, "2025-06-02");
  const auto old_run = cluster.WaitForTerminal(cluster.Trigger(0).run_id);
  REQUIRE(old_run.state == schemas::RunState::kSucceeded);
  cluster.StartNotifier({"--from-newest"});
  const std::string log = cluster.root() + "/logs/notifier.log";
  REQUIRE(testing::WaitForText(log, "no cursor yet: starting after the newest event"));
  const auto new_run = cluster.WaitForTerminal(cluster.Trigger(0).run_id);
  CHECK(testing::WaitForText(log, "run " + new_run.run_id + " general completed"));
  CHECK(testing::ReadFile(log).find("run " + old_run.run_id + " ") == std::string::npos);
}
