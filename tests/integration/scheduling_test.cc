// The ticker and the broker on a shifted wall clock (DAYBREAK_WALL_CLOCK_
// OFFSET_MS), so that a 02:00 fire happens a few seconds into the test.
#include <doctest/doctest.h>

#include <signal.h>

#include <thread>

#include "common/schedule.h"
#include "tests/support/cluster.h"

namespace {

using testing::BusWatcher;
using testing::Cluster;
using Clock = std::chrono::system_clock;

// The next 02:00 UTC at least a day away, and the offset that puts the
// system's "now" `lead` before it.
struct FireRehearsal {
  std::chrono::sys_seconds fire;
  std::chrono::milliseconds offset;
  std::string date;  // the fire's local (UTC) date

  explicit FireRehearsal(std::chrono::milliseconds lead) {
    const auto now = Clock::now();
    const auto today = std::chrono::floor<date::days>(now);
    fire = std::chrono::sys_seconds(today + date::days(1) + std::chrono::hours(2));
    offset = std::chrono::duration_cast<std::chrono::milliseconds>(fire - now) - lead;
    date = common::FormatDate(date::local_days((today + date::days(1)).time_since_epoch()));
  }
  // Real time at which the shifted clocks read `fire + after`.
  Clock::time_point RealTimeOf(std::chrono::milliseconds after) const {
    return Clock::time_point(fire) - offset + after;
  }
  std::string Key(std::uint32_t team) const { return "sched:" + std::to_string(team) + ":" + date; }
  testing::ClusterOptions Options(int runners, std::map<std::string, std::string> env = {}) const {
    env["DAYBREAK_WALL_CLOCK_OFFSET_MS"] = std::to_string(offset.count());
    env["TIMEZONE"] = "UTC";
    return {.runners = runners, .ticker = true, .notifier = false, .env = env};
  }
};

void AddTeam(Cluster& cluster, std::uint32_t id, const std::string& time, bool paused = false,
             const std::string& script = "exit 0", const std::string& overlap = "skip") {
  schemas::TeamRecord team;
  team.id = id;
  team.run_time = time;
  team.timezone = "UTC";
  team.paused = paused;
  team.overlap = overlap;
  team.command = {"/bin/sh", "-c", script};
  cluster.AddTeam(team);
}

// The general run would fire at 02:00 too; these tests watch their teams.
void PauseGeneral(Cluster& cluster) { AddTeam(cluster, 0, "02:00", /*paused=*/true); }

std::vector<schemas::RunRecord> RunsOf(Cluster& cluster, std::uint32_t team) {
  schemas::ControlRequest list;
  list.op = "runs.list";
  list.all_teams = false;
  list.team = team;
  return cluster.Call(list).value().runs;
}

}  // namespace

TEST_CASE("a fire runs at its time, once, even when the ticker restarts across it") {
  FireRehearsal at(std::chrono::seconds(3));
  Cluster cluster(at.Options(1));
  PauseGeneral(cluster);
  BusWatcher bus(cluster, {"run.", "due.ack"});
  AddTeam(cluster, 7, "02:00");
  auto done = bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
    return e.run.key == at.Key(7) && e.event == "completed";
  });
  REQUIRE(done.has_value());
  CHECK(done->run.kind == "scheduled");
  CHECK(done->run.fire_unix_ms == std::chrono::duration_cast<std::chrono::milliseconds>(
                                      at.fire.time_since_epoch()).count());
  CHECK(done->run.local_date == at.date);
  // A fresh ticker owes the latest fire again; the broker knows the key.
  cluster.StopTicker(SIGKILL);
  cluster.StartTicker();
  auto again = bus.WaitForAck([&](const schemas::DueAck& a) { return a.key == at.Key(7) && a.duplicate; });
  REQUIRE(again.has_value());
  CHECK(again->run_id == done->run.run_id);
  CHECK(RunsOf(cluster, 7).size() == 1);
}

TEST_CASE("a fire while the broker is down runs on recovery within the grace, and is missed beyond it") {
  FireRehearsal at(std::chrono::seconds(3));
  std::map<std::string, std::string> env;
  bool within = true;
  SUBCASE("within the grace") { within = true; }
  SUBCASE("beyond the grace") {
    within = false;
    env["MISFIRE_GRACE"] = "1";
  }
  Cluster cluster(at.Options(1, env));
  PauseGeneral(cluster);
  AddTeam(cluster, 7, "02:00");
  cluster.StopBroker(SIGKILL);
  // Waiting for the fire time to pass, not for an event: the broker is down.
  std::this_thread::sleep_until(at.RealTimeOf(std::chrono::milliseconds(2500)));
  cluster.StartBroker();
  REQUIRE(cluster.WaitForBroker());
  // The ticker keeps publishing the fire until the broker answers for it.
  const auto runs_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (RunsOf(cluster, 7).empty() && std::chrono::steady_clock::now() < runs_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the broker
  }
  auto runs = RunsOf(cluster, 7);
  REQUIRE(runs.size() == 1);
  const auto run = cluster.WaitForTerminal(runs[0].run_id);
  CHECK(run.key == at.Key(7));
  if (within) {
    CHECK(run.state == schemas::RunState::kSucceeded);
  } else {
    CHECK(run.state == schemas::RunState::kMissed);
    CHECK(run.error.find("missed by") != std::string::npos);
    CHECK(run.attempt == 0);  // never dispatched
  }
}

TEST_CASE("teams added, changed, paused and removed take effect at once, and a busy team's fire is skipped") {
  FireRehearsal at(std::chrono::seconds(5));
  Cluster cluster(at.Options(2));
  PauseGeneral(cluster);
  BusWatcher bus(cluster, {"run.", "due.ack"});
  AddTeam(cluster, 8, "02:00");                     // added while running
  AddTeam(cluster, 9, "03:00");
  AddTeam(cluster, 9, "02:00");                     // changed to 02:00
  AddTeam(cluster, 10, "02:00");
  schemas::ControlRequest remove;
  remove.op = "team.remove";
  remove.team = 10;
  REQUIRE(cluster.Call(remove).ok());               // removed again
  AddTeam(cluster, 11, "02:00", /*paused=*/true);   // paused
  AddTeam(cluster, 12, "02:00", false, "sleep 8");  // busy at 02:00
  const auto busy = cluster.Trigger(12);
  CHECK(busy.state == schemas::RunState::kAccepted);

  for (std::uint32_t team : {8u, 9u}) {
    CAPTURE(team);
    CHECK(bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
      return e.run.key == at.Key(team) && e.event == "completed";
    }));
  }
  auto skipped = bus.WaitForRunEvent([&](const schemas::RunEvent& e) {
    return e.run.key == at.Key(12) && e.event == "skipped";
  });
  REQUIRE(skipped.has_value());
  CHECK(skipped->run.error.find(busy.run_id) != std::string::npos);
  // All of 02:00 was published in one pass: had 10 or 11 fired, their acks
  // would have come with 8's and 9's.
  CHECK(bus.WaitForAck([&](const schemas::DueAck& a) { return a.key == at.Key(12); }));
  CHECK_FALSE(bus.WaitForAck([&](const schemas::DueAck& a) {
    return a.key == at.Key(10) || a.key == at.Key(11);
  }, std::chrono::milliseconds(300)));
  CHECK(RunsOf(cluster, 10).empty());
  CHECK(RunsOf(cluster, 11).empty());
}

TEST_CASE("a backfilled date's run reads that date's inputs, not the host's today") {
  Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {{"TIMEZONE", "UTC"}}});
  schemas::TeamRecord team;  // the reference pipeline (no command)
  team.id = 21;
  team.timezone = "UTC";
  cluster.AddTeam(team);
  cluster.MakeSample(21, 10, "2026-11-26");
  cluster.MakeSample(21, 20, "2026-12-02");  // newer, and before today
  schemas::ControlRequest backfill;
  backfill.op = "backfill";
  backfill.team = 21;
  backfill.from_date = "2026-11-26";
  backfill.to_date = "2026-11-26";
  auto runs = cluster.Call(backfill);
  REQUIRE(runs.ok());
  REQUIRE(runs.value().runs.size() == 1);
  const schemas::RunRecord done = cluster.WaitForTerminal(runs.value().runs[0].run_id, std::chrono::seconds(60));
  REQUIRE(done.state == schemas::RunState::kSucceeded);
  CHECK(done.local_date == "2026-11-26");
  CHECK(done.total_loans == 10);  // the 2026-11-26 tape; the host's today would pick 20
}

TEST_CASE("backfill makes one run per date, skips dates already run, and runs them one at a time") {
  Cluster cluster({.runners = 2, .ticker = false, .notifier = false, .env = {{"TIMEZONE", "UTC"}}});
  AddTeam(cluster, 20, "02:00", false, "sleep 0.2", "skip");
  schemas::ControlRequest backfill;
  backfill.op = "backfill";
  backfill.team = 20;
  backfill.from_date = "2026-03-01";
  backfill.to_date = "2026-03-03";
  auto first = cluster.Call(backfill);
  REQUIRE(first.ok());
  REQUIRE(first.value().runs.size() == 3);
  CHECK(first.value().runs[0].key == "sched:20:2026-03-01");
  CHECK(first.value().runs[0].state == schemas::RunState::kAccepted);
  CHECK(first.value().runs[1].state == schemas::RunState::kQueued);  // even though overlap is skip
  for (const auto& r : first.value().runs) CHECK(cluster.WaitForTerminal(r.run_id).state == schemas::RunState::kSucceeded);
  auto a = cluster.WaitForTerminal(first.value().runs[0].run_id);
  auto b = cluster.WaitForTerminal(first.value().runs[1].run_id);
  CHECK(b.started_unix_ms >= a.finished_unix_ms);
  CHECK(b.pdate == "2026-03-03");  // first Tuesday after Monday 2026-03-02

  backfill.to_date = "2026-03-04";  // overlaps what ran
  auto second = cluster.Call(backfill);
  REQUIRE(second.ok());
  CHECK(second.value().runs[0].run_id == first.value().runs[0].run_id);
  CHECK(second.value().runs[0].state == schemas::RunState::kSucceeded);
  CHECK(RunsOf(cluster, 20).size() == 4);

  SUBCASE("bad ranges are refused and change nothing") {
    backfill.from_date = "2026-03-05";
    backfill.to_date = "2026-03-01";
    auto backwards = cluster.Call(backfill);
    CHECK_FALSE(backwards.ok());
    CHECK(backwards.status().message().find("backwards") != std::string::npos);
    backfill.from_date = "2020-01-01";
    backfill.to_date = "2026-01-01";
    auto too_long = cluster.Call(backfill);
    CHECK_FALSE(too_long.ok());
    CHECK(too_long.status().message().find("limit is 366") != std::string::npos);
    backfill.team = 99;
    backfill.to_date = "2020-01-02";
    CHECK_FALSE(cluster.Call(backfill).ok());
    CHECK(RunsOf(cluster, 20).size() == 4);
  }
}

TEST_CASE("a team that runs after others starts once all of them succeeded for the date") {
  Cluster cluster({.runners = 2, .ticker = false, .notifier = false, .env = {{"TIMEZONE", "UTC"}}});
  BusWatcher bus(cluster, {"run."});
  AddTeam(cluster, 30, "02:00");
  AddTeam(cluster, 32, "02:00");
  schemas::TeamRecord one_upstream;
  one_upstream.id = 31;
  one_upstream.after = {30};
  one_upstream.command = {"/bin/sh", "-c", "exit 0"};
  cluster.AddTeam(one_upstream);
  schemas::TeamRecord two_upstreams = one_upstream;
  two_upstreams.id = 33;
  two_upstreams.after = {30, 32};
  cluster.AddTeam(two_upstreams);

  schemas::ControlRequest trigger;
  trigger.op = "trigger";
  trigger.team = 30;
  trigger.pdate = "2026-12-08";
  auto upstream = cluster.Call(trigger);
  REQUIRE(upstream.ok());
  const auto up = cluster.WaitForTerminal(upstream.value().run.run_id);
  REQUIRE(up.state == schemas::RunState::kSucceeded);
  auto chained = bus.WaitForRunEvent([](const schemas::RunEvent& e) {
    return e.run.team == 31 && e.event == "completed";
  });
  REQUIRE(chained.has_value());
  CHECK(chained->run.kind == "chained");
  CHECK(chained->run.key == "after:31:" + up.local_date);
  CHECK(chained->run.pdate == "2026-12-08");
  CHECK(RunsOf(cluster, 33).empty());  // still waits for team 32

  const auto other = cluster.WaitForTerminal(cluster.Trigger(32).run_id);
  REQUIRE(other.state == schemas::RunState::kSucceeded);
  auto both = bus.WaitForRunEvent([](const schemas::RunEvent& e) {
    return e.run.team == 33 && e.event == "completed";
  });
  REQUIRE(both.has_value());
  CHECK(both->run.kind == "chained");
  // Another success of team 30 that day does not start 31 again.
  cluster.WaitForTerminal(cluster.Trigger(30).run_id);
  CHECK(RunsOf(cluster, 31).size() == 1);

  SUBCASE("a team cannot wait for itself") {
    schemas::TeamRecord self = one_upstream;
    self.after = {31};
    CHECK_THROWS(cluster.AddTeam(self));
  }
}
