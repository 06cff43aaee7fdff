// FirePlanner: what the ticker owes at a given instant.
#include <doctest/doctest.h>

#include <string>

#include "ticker/fire_planner.h"

namespace {

using std::chrono::sys_seconds;

sys_seconds Utc(const std::string& t) {  // "2026-03-08T07:00:00"
  auto n = [&](int at, int len) { return std::stoi(t.substr(at, len)); };
  const date::sys_days day = date::year{n(0, 4)} / n(5, 2) / n(8, 2);
  return day + std::chrono::hours(n(11, 2)) + std::chrono::minutes(n(14, 2)) +
         std::chrono::seconds(n(17, 2));
}

std::int64_t Ms(sys_seconds t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

schemas::TeamRecord Team(std::uint32_t id, const std::string& time, const std::string& zone,
                         sys_seconds since = Utc("2026-01-01T00:00:00")) {
  schemas::TeamRecord t;
  t.id = id;
  t.run_time = time;
  t.timezone = zone;
  t.schedule_since_unix_ms = Ms(since);
  return t;
}

}  // namespace

TEST_CASE("a fresh planner owes each team its most recent fire, once") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC"), Team(2, "02:30", "America/New_York")});
  auto due = planner.Collect(Utc("2026-03-10T12:00:00"));
  REQUIRE(due.size() == 2);
  CHECK(due[0].key == "sched:1:2026-03-10");
  CHECK(due[0].fire_unix_ms == Ms(Utc("2026-03-10T02:00:00")));
  CHECK(due[0].kind == "scheduled");
  CHECK(due[1].key == "sched:2:2026-03-10");
  CHECK(due[1].local_date == "2026-03-10");
  CHECK(planner.Collect(Utc("2026-03-10T12:00:05")).empty());
  CHECK(planner.Collect(Utc("2026-03-11T01:59:59")).empty());
  auto next = planner.Collect(Utc("2026-03-11T02:00:00"));
  REQUIRE(next.size() == 1);
  CHECK(next[0].key == "sched:1:2026-03-11");
}

TEST_CASE("several missed days coalesce into the newest fire") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC")});
  auto due = planner.Collect(Utc("2026-03-20T03:00:00"));  // down since March 1
  REQUIRE(due.size() == 1);
  CHECK(due[0].local_date == "2026-03-20");
}

TEST_CASE("a team owes nothing for fires before its schedule began") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC", Utc("2026-03-10T03:00:00"))});
  CHECK(planner.Collect(Utc("2026-03-10T04:00:00")).empty());
  CHECK(planner.Collect(Utc("2026-03-11T02:00:00")).size() == 1);
}

TEST_CASE("paused teams and teams that run after others are not scheduled") {
  ticker::FirePlanner planner;
  auto paused = Team(1, "02:00", "UTC");
  paused.paused = true;
  auto dependent = Team(2, "02:00", "UTC");
  dependent.after = {3};
  planner.SetTeams({paused, dependent, Team(3, "02:00", "UTC")});
  auto due = planner.Collect(Utc("2026-03-10T02:00:00"));
  REQUIRE(due.size() == 1);
  CHECK(due[0].team == 3);
}

TEST_CASE("the spring-forward gap fires once at the transition, keyed by its local date") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(5, "02:30", "America/New_York")});
  CHECK(planner.Collect(Utc("2026-03-08T06:59:59")).size() == 1);  // the 7th's fire
  auto due = planner.Collect(Utc("2026-03-08T07:00:00"));  // 03:00 EDT
  REQUIRE(due.size() == 1);
  CHECK(due[0].key == "sched:5:2026-03-08");
  CHECK(planner.NextFire(Utc("2026-03-08T07:00:00")) == Utc("2026-03-09T06:30:00"));
}

TEST_CASE("reloading the schedule keeps what was already published") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC")});
  REQUIRE(planner.Collect(Utc("2026-03-10T02:00:00")).size() == 1);
  planner.SetTeams({Team(1, "02:00", "UTC"), Team(2, "01:00", "UTC")});
  auto due = planner.Collect(Utc("2026-03-10T02:00:01"));
  REQUIRE(due.size() == 1);  // only the new team's fire
  CHECK(due[0].team == 2);
  SUBCASE("a team with an unusable schedule is skipped, not fatal") {
    planner.SetTeams({Team(1, "02:00", "UTC"), Team(9, "25:00", "UTC")});
    CHECK(planner.team_count() == 1);
  }
}

TEST_CASE("a schedule moved within the day fires again under the same key, so the broker runs it once") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(4, "10:00", "UTC")});
  auto first = planner.Collect(Utc("2026-03-10T10:00:00"));
  REQUIRE(first.size() == 1);
  planner.SetTeams({Team(4, "10:01", "UTC", Utc("2026-03-10T10:00:30"))});
  auto moved = planner.Collect(Utc("2026-03-10T10:01:00"));
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].key == first[0].key);
  CHECK(moved[0].key == "sched:4:2026-03-10");
  CHECK(moved[0].local_date == "2026-03-10");
}

// The ticker reads NextFire to know how long to sleep. A fire whose instant
// passed while the ticker was busy (a long collect, a wake a hair early)
// must stay next, not make way for tomorrow's: that cost every such fire a
// whole second of lateness.
TEST_CASE("a fire whose instant passed before it was collected is next, not skipped") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC", Utc("2026-03-10T00:00:00")),
                    Team(2, "05:00", "UTC", Utc("2026-03-10T00:00:00"))});
  CHECK(planner.Collect(Utc("2026-03-10T01:59:59")).empty());
  CHECK(planner.NextFire(Utc("2026-03-10T01:59:59")) == Utc("2026-03-10T02:00:00"));
  // The instant passes before the ticker looks again.
  CHECK(planner.NextFire(Utc("2026-03-10T02:00:00")) == Utc("2026-03-10T02:00:00"));
  CHECK(planner.NextFire(Utc("2026-03-10T02:00:01")) == Utc("2026-03-10T02:00:00"));
  auto due = planner.Collect(Utc("2026-03-10T02:00:01"));
  REQUIRE(due.size() == 1);
  CHECK(due[0].key == "sched:1:2026-03-10");
  CHECK(planner.NextFire(Utc("2026-03-10T02:00:01")) == Utc("2026-03-10T05:00:00"));
}

TEST_CASE("collecting looks only at the teams whose fire has come, in time order") {
  ticker::FirePlanner planner;
  std::vector<schemas::TeamRecord> teams;
  // 1,440 teams, one per minute of the day.
  for (std::uint32_t i = 0; i < 1440; ++i) {
    char hhmm[6];
    std::snprintf(hhmm, sizeof hhmm, "%02u:%02u", i / 60, i % 60);
    teams.push_back(Team(i + 1, hhmm, "UTC", Utc("2026-03-10T00:00:00")));
  }
  planner.SetTeams(teams);
  CHECK(planner.Collect(Utc("2026-03-10T00:00:00")).size() == 1);  // 00:00's own
  std::size_t fired = 1;
  for (int minute = 1; minute < 1440; ++minute) {
    const auto at = Utc("2026-03-10T00:00:00") + std::chrono::minutes(minute);
    REQUIRE(planner.NextFire(at - std::chrono::seconds(1)) == at);
    auto due = planner.Collect(at);
    REQUIRE(due.size() == 1);
    CHECK(due[0].team == static_cast<std::uint32_t>(minute + 1));
    ++fired;
  }
  CHECK(fired == 1440);
  CHECK(planner.NextFire(Utc("2026-03-10T23:59:00")) == Utc("2026-03-11T00:00:00"));
  CHECK(planner.Collect(Utc("2026-03-11T00:30:00")).size() == 31);  // the next day's first half hour
}

TEST_CASE("one team put or removed changes that team's fires only") {
  ticker::FirePlanner planner;
  planner.SetTeams({Team(1, "02:00", "UTC", Utc("2026-03-10T00:00:00")),
                    Team(2, "03:00", "UTC", Utc("2026-03-10T00:00:00"))});
  CHECK(planner.Collect(Utc("2026-03-10T01:00:00")).empty());
  // Team 1 moves to 04:00 (its schedule begins anew); team 3 arrives at 02:30.
  planner.PutTeam(Team(1, "04:00", "UTC", Utc("2026-03-10T01:00:00")));
  planner.PutTeam(Team(3, "02:30", "UTC", Utc("2026-03-10T01:00:00")));
  CHECK(planner.team_count() == 3);
  CHECK(planner.NextFire(Utc("2026-03-10T01:00:00")) == Utc("2026-03-10T02:30:00"));
  CHECK(planner.Collect(Utc("2026-03-10T02:00:00")).empty());  // 1's old time: gone
  std::vector<std::uint32_t> order;
  for (const char* at : {"2026-03-10T02:30:00", "2026-03-10T03:00:00", "2026-03-10T04:00:00"}) {
    auto due = planner.Collect(Utc(at));
    REQUIRE(due.size() == 1);
    order.push_back(due[0].team);
  }
  CHECK(order == std::vector<std::uint32_t>{3, 2, 1});
  // Removed, and paused (a put that takes it off the clock): no more fires.
  planner.RemoveTeam(2);
  schemas::TeamRecord paused = Team(3, "02:30", "UTC", Utc("2026-03-10T01:00:00"));
  paused.paused = true;
  planner.PutTeam(paused);
  CHECK(planner.team_count() == 1);
  CHECK(planner.Collect(Utc("2026-03-11T03:30:00")).empty());
  CHECK(planner.NextFire(Utc("2026-03-11T03:30:00")) == Utc("2026-03-11T04:00:00"));
  planner.RemoveTeam(99);  // not there: nothing happens
  CHECK(planner.team_count() == 1);
}
