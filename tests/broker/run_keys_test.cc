// Scheduled run keys name a team's local date, not its time of day: once per
// local date whatever the schedule does that day, for the ticker, a backfill,
// a restarted ticker and a store written by release 1. Missed days each leave
// their own record.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/rocks_store.h"
#include "tests/broker/harness.h"
#include "ticker/fire_planner.h"

namespace broker::testing_support {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// 2026-03-<day> at hh:mm UTC.
common::Clock::Wall March(int day, int hh, int mm = 0, int ss = 0) {
  const date::sys_days d = date::year{2026} / 3 / day;
  return common::Clock::Wall(d) + hours(hh) + minutes(mm) + std::chrono::seconds(ss);
}
std::int64_t Ms(common::Clock::Wall t) { return common::ToUnixMs(t); }

// A clock-scheduled team at `time` UTC, created or changed now.
void PutTeam(Harness& h, std::uint32_t id, const std::string& time,
             const std::string& overlap = "skip") {
  schemas::TeamRecord t;
  t.id = id;
  t.name = "team " + std::to_string(id);
  t.run_time = time;
  t.timezone = "UTC";
  t.overlap = overlap;
  common::Status s = h.m().PutTeam(t);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  h.Collect();
}

std::vector<schemas::TeamRecord> Teams(Harness& h) {
  auto teams = h.store().LoadTeams();
  REQUIRE(teams.ok());
  return teams.value();
}

// The ticker's due events at the harness's wall time, from `planner`.
std::vector<schemas::DueEvent> Fires(Harness& h, ticker::FirePlanner& planner) {
  REQUIRE(h.m().Persist().ok());
  planner.SetTeams(Teams(h));
  return planner.Collect(std::chrono::floor<std::chrono::seconds>(h.clock().WallNow()));
}

// Admits the one due `planner` owes `team` now.
Admission FireTeam(Harness& h, ticker::FirePlanner& planner, std::uint32_t team) {
  std::vector<Admission> out;
  for (const schemas::DueEvent& due : Fires(h, planner)) {
    if (due.team == team) out.push_back(h.Admit(due));
  }
  REQUIRE_MESSAGE(out.size() == 1, "fires of team " << team << ": " << out.size());
  REQUIRE_MESSAGE(out[0].status.ok(), out[0].status.ToString());
  return out[0];
}

void Succeed(Harness& h, const std::string& runner, const std::string& run_id) {
  const BrokerMessage d = h.OneDispatch(runner);
  REQUIRE(d.run_id == run_id);
  h.Started(runner, run_id, d.attempt);
  h.Result(runner, run_id, d.attempt, "succeeded");
  REQUIRE(h.State(run_id) == "succeeded");
}

std::vector<RunRecord> RunsOf(Harness& h, std::uint32_t team) {
  REQUIRE(h.m().Persist().ok());
  auto runs = h.store().ListRuns(team, 1000);
  REQUIRE(runs.ok());
  return runs.value();
}

// Events published for `team`, as "<event> <local date>".
Strings EventsOf(Harness& h, std::uint32_t team) {
  Strings out;
  for (const RunEvent& e : h.events()) {
    if (e.run.team == team) out.push_back(e.event + " " + e.run.local_date);
  }
  return out;
}

}  // namespace

TEST_CASE("a team that ran at 10:00 and is moved to 10:01 the same day does not run again") {
  Harness h;
  h.clock().SetWall(March(10, 9, 0));
  PutTeam(h, 5, "10:00");
  h.Hello("runner-a");
  ticker::FirePlanner planner;
  h.clock().SetWall(March(10, 10, 0));
  const Admission first = FireTeam(h, planner, 5);
  CHECK(first.run.key == "sched:5:2026-03-10");
  CHECK_FALSE(first.duplicate);
  Succeed(h, "runner-a", first.run.run_id);

  h.clock().SetWall(March(10, 10, 0, 30));
  PutTeam(h, 5, "10:01");
  h.clock().SetWall(March(10, 10, 1));

  SUBCASE("the running ticker fires 10:01: the same run") {
    const Admission again = FireTeam(h, planner, 5);
    CHECK(again.duplicate);
    CHECK(again.run.run_id == first.run.run_id);
  }
  SUBCASE("a restarted ticker fires 10:01: the same run") {
    ticker::FirePlanner restarted;
    const Admission again = FireTeam(h, restarted, 5);
    CHECK(again.duplicate);
    CHECK(again.run.run_id == first.run.run_id);
  }
  CHECK(RunsOf(h, 5).size() == 1);
  CHECK(h.Sent("runner-a", "dispatch").empty());
  // The next day runs once, at the new time.
  h.clock().SetWall(March(11, 10, 1));
  const Admission next = FireTeam(h, planner, 5);
  CHECK_FALSE(next.duplicate);
  CHECK(next.run.key == "sched:5:2026-03-11");
  CHECK(EventsOf(h, 5) == Strings{"accepted 2026-03-10", "dispatched 2026-03-10",
                                  "started 2026-03-10", "completed 2026-03-10",
                                  "accepted 2026-03-11", "dispatched 2026-03-11"});
}

TEST_CASE("a backfill repeated after a time change is a duplicate for every date") {
  Harness h;
  h.clock().SetWall(March(1, 0));
  PutTeam(h, 6, "02:00", "queue");
  h.clock().SetWall(March(10, 12));
  auto first = h.m().Backfill(6, "2026-03-02", "2026-03-04", 31, "test");
  REQUIRE(first.ok());
  h.Collect();
  REQUIRE(first.value().size() == 3);
  CHECK(first.value()[0].run.key == "sched:6:2026-03-02");
  CHECK(first.value()[2].run.key == "sched:6:2026-03-04");

  PutTeam(h, 6, "11:30");
  auto again = h.m().Backfill(6, "2026-03-02", "2026-03-04", 31, "test");
  REQUIRE(again.ok());
  h.Collect();
  REQUIRE(again.value().size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(again.value()[i].duplicate);
    CHECK(again.value()[i].run.run_id == first.value()[i].run.run_id);
  }
  CHECK(RunsOf(h, 6).size() == 3);
}

TEST_CASE("every missed date of a coalesced catch-up gets its own missed record and event") {
  Harness h;  // misfire grace 60 s
  h.clock().SetWall(March(1, 0));
  PutTeam(h, 8, "02:00", "queue");
  h.Hello("runner-a");
  h.clock().SetWall(March(1, 2));
  ticker::FirePlanner planner;
  Succeed(h, "runner-a", FireTeam(h, planner, 8).run.run_id);
  // The ticker stops; a new one starts three days later and owes the team
  // only its most recent fire.
  ticker::FirePlanner restarted;

  SUBCASE("restarted within the grace of today's fire: today runs, each day between is missed") {
    h.clock().SetWall(March(5, 2, 0, 10));
    const Admission today = FireTeam(h, restarted, 8);
    CHECK(today.run.local_date == "2026-03-05");
    CHECK(h.State(today.run.run_id) == "dispatched");
    CHECK(EventsOf(h, 8) == Strings{"accepted 2026-03-01", "dispatched 2026-03-01",
                                    "started 2026-03-01", "completed 2026-03-01",
                                    "missed 2026-03-02", "missed 2026-03-03", "missed 2026-03-04",
                                    "accepted 2026-03-05", "dispatched 2026-03-05"});
  }
  SUBCASE("restarted past the grace of today's fire too: four dates, four missed records") {
    h.clock().SetWall(March(5, 7));
    const Admission today = FireTeam(h, restarted, 8);
    CHECK(h.State(today.run.run_id) == "missed");
    CHECK(EventsOf(h, 8) == Strings{"accepted 2026-03-01", "dispatched 2026-03-01",
                                    "started 2026-03-01", "completed 2026-03-01",
                                    "missed 2026-03-02", "missed 2026-03-03", "missed 2026-03-04",
                                    "missed 2026-03-05"});
  }
  const std::vector<RunRecord> runs = RunsOf(h, 8);  // newest first
  REQUIRE(runs.size() == 5);
  for (std::size_t i = 1; i <= 3; ++i) {
    const RunRecord& r = runs[i];
    CHECK(r.state == schemas::RunState::kMissed);
    CHECK(r.kind == "scheduled");
    CHECK(r.key == "sched:8:" + r.local_date);
    CHECK(r.fire_unix_ms == Ms(common::Clock::Wall(common::ParseDate(r.local_date).value().time_since_epoch()) + hours(2)));
    CHECK(r.error.find("missed") != std::string::npos);
  }
  // Republishing, by a ticker that restarts again, records nothing more.
  const std::size_t events = h.events().size();
  ticker::FirePlanner third;
  CHECK(FireTeam(h, third, 8).duplicate);
  CHECK(h.events().size() == events);
  CHECK(RunsOf(h, 8).size() == 5);
}

TEST_CASE("no missed record for dates the schedule did not owe") {
  Harness h;
  SUBCASE("a team added after today's fire time owes nothing before tomorrow") {
    h.clock().SetWall(March(3, 3));
    PutTeam(h, 9, "02:00");
  }
  SUBCASE("a team paused for days and resumed owes nothing for the paused days") {
    h.clock().SetWall(March(1, 0));
    PutTeam(h, 9, "02:00");
    schemas::TeamRecord t = Teams(h).back();
    REQUIRE(t.id == 9);
    t.paused = true;
    REQUIRE(h.m().PutTeam(t).ok());
    h.clock().SetWall(March(3, 12));
    t.paused = false;
    REQUIRE(h.m().PutTeam(t).ok());
    h.Collect();
  }
  h.clock().SetWall(March(4, 2));
  ticker::FirePlanner planner;
  const Admission a = FireTeam(h, planner, 9);
  CHECK(a.run.local_date == "2026-03-04");
  CHECK(RunsOf(h, 9).size() == 1);
}

// ---- upgrading a store written by release 1 ------------------------------------

namespace {

// A release-1 run: its key carries the configured time of day.
RunRecord OldRun(std::uint64_t number, std::uint32_t team, const std::string& key,
                 const std::string& local_date, common::Clock::Wall fire,
                 schemas::RunState state = schemas::RunState::kSucceeded) {
  RunRecord run;
  run.run_id = RunIdFor(number);
  run.key = key;
  run.team = team;
  run.kind = "scheduled";
  run.state = state;
  run.local_date = local_date;
  run.pdate = "2026-03-10";
  run.fire_unix_ms = Ms(fire);
  run.accepted_unix_ms = Ms(fire);
  run.requested_by = "ticker";
  return run;
}

// Writes `runs` (and team 7 at 10:01, changed on 2026-03-09 at 10:00:30) the
// way release 1 did: RocksStore's layout without a format key.
void WriteReleaseOneStore(const std::string& path, const std::vector<RunRecord>& runs) {
  {
    auto store = RocksStore::Open(path, false);
    REQUIRE(store.ok());
    Change team;
    schemas::TeamRecord t;
    t.id = 7;
    t.name = "team 7";
    t.run_time = "10:01";
    t.timezone = "UTC";
    t.created_unix_ms = Ms(March(1, 0));
    t.schedule_since_unix_ms = Ms(March(9, 10, 0, 30));
    team.team_put = t;
    REQUIRE(store.value()->Commit(team).ok());
    std::uint64_t seq = 0;
    for (const RunRecord& run : runs) {
      Change c;
      c.run = run;
      c.new_run = true;
      schemas::LoggedEvent e;
      e.seq = ++seq;
      e.topic = "run.accepted";
      e.at_unix_ms = run.accepted_unix_ms;
      c.events.push_back(e);
      REQUIRE(store.value()->Commit(c).ok());
    }
  }
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  REQUIRE(db->Delete(rocksdb::WriteOptions(), kStoreFormatKey).ok());
}

std::string RawGet(const std::string& path, const std::string& key) {
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
  return s.ok() ? value : "<" + s.ToString() + ">";
}

std::string KeyOwner(Store& store, const std::string& key) {
  auto id = store.FindRunIdByKey(key);
  return id.ok() ? id.value() : "<none>";
}

}  // namespace

TEST_CASE("a release-1 store is migrated to date keys on first open, once, keeping the earliest run of a date") {
  testing::TempDir dir;
  const std::string path = dir.Sub("db");
  WriteReleaseOneStore(path, {
      OldRun(1, 7, "sched:7:2026-03-08T10:00", "2026-03-08", March(8, 10)),
      OldRun(2, 0, "sched:general:2026-03-08T02:00", "2026-03-08", March(8, 2)),
      // Moved from 10:00 to 10:01 on the 9th: release 1 ran it twice.
      OldRun(3, 7, "sched:7:2026-03-09T10:00", "2026-03-09", March(9, 10)),
      OldRun(4, 7, "sched:7:2026-03-09T10:01", "2026-03-09", March(9, 10, 1)),
      OldRun(5, 7, "after-like-key", "2026-03-09", March(9, 11)),
      OldRun(6, 7, "sched:7:2026-03-10T10:01", "2026-03-10", March(10, 10, 1),
             schemas::RunState::kRunning),
  });
  REQUIRE(RawGet(path, std::string(kStoreFormatKey)).starts_with("<NotFound"));

  {
    auto store = RocksStore::Open(path, false);
    REQUIRE_MESSAGE(store.ok(), store.status().ToString());
    Store& s = *store.value();
    CHECK(KeyOwner(s, "sched:7:2026-03-08") == "r0000000001");
    CHECK(KeyOwner(s, "sched:general:2026-03-08") == "r0000000002");
    CHECK(KeyOwner(s, "sched:7:2026-03-09") == "r0000000003");
    CHECK(KeyOwner(s, "sched:7:2026-03-10") == "r0000000006");
    CHECK(KeyOwner(s, "after-like-key") == "r0000000005");
    for (const char* old : {"sched:7:2026-03-08T10:00", "sched:general:2026-03-08T02:00",
                            "sched:7:2026-03-09T10:00", "sched:7:2026-03-09T10:01",
                            "sched:7:2026-03-10T10:01"}) {
      CHECK_MESSAGE(KeyOwner(s, old) == "<none>", old);
    }
    // The kept runs carry their new key; the dropped duplicate keeps its own.
    CHECK(s.GetRun("r0000000001").value().key == "sched:7:2026-03-08");
    CHECK(s.GetRun("r0000000003").value().key == "sched:7:2026-03-09");
    CHECK(s.GetRun("r0000000006").value().key == "sched:7:2026-03-10");
    CHECK(s.GetRun("r0000000004").value().key == "sched:7:2026-03-09T10:01");
    CHECK(s.LastRunNumber().value() == 6);
    CHECK(s.LastSeq().value() == 6);
    // Written after the migration: left alone by the next open.
    Change later;
    later.run = OldRun(7, 7, "sched:7:2026-03-01T10:00", "2026-03-01", March(1, 10));
    later.new_run = true;
    REQUIRE(s.Commit(later).ok());
  }
  CHECK(RawGet(path, std::string(kStoreFormatKey)) == std::to_string(kStoreFormat));
  auto reopened = RocksStore::Open(path, false);
  REQUIRE(reopened.ok());
  CHECK(KeyOwner(*reopened.value(), "sched:7:2026-03-01T10:00") == "r0000000007");
  CHECK(KeyOwner(*reopened.value(), "sched:7:2026-03-01") == "<none>");
}

TEST_CASE("after the upgrade a restarted ticker's republished fires start no run and record no missed") {
  testing::TempDir dir;
  const std::string path = dir.Sub("db");
  WriteReleaseOneStore(path, {
      OldRun(1, 7, "sched:7:2026-03-08T10:00", "2026-03-08", March(8, 10)),
      OldRun(2, 7, "sched:7:2026-03-09T10:00", "2026-03-09", March(9, 10)),
      OldRun(3, 7, "sched:7:2026-03-09T10:01", "2026-03-09", March(9, 10, 1)),
  });
  auto store = RocksStore::Open(path, false);
  REQUIRE(store.ok());
  Harness h(*store.value());
  // Hours after the 10:01 fire: a new run for the key would be missed.
  h.clock().SetWall(March(9, 15));
  ticker::FirePlanner restarted;
  const Admission a = FireTeam(h, restarted, 7);
  CHECK(a.duplicate);
  CHECK(a.run.run_id == "r0000000002");
  CHECK(a.run.key == "sched:7:2026-03-09");
  // A release-1 ticker still running during the upgrade says the same.
  schemas::DueEvent old = h.Scheduled(7, Ms(March(9, 10, 1)));
  old.key = "sched:7:2026-03-09T10:01";
  old.local_date = "2026-03-09";
  const Admission legacy = h.Admit(old);
  CHECK(legacy.duplicate);
  CHECK(legacy.run.run_id == "r0000000002");
  CHECK(h.events().empty());
  CHECK(RunsOf(h, 7).size() == 3);
  // The next day's fire finds the 9th recorded: no missed dates.
  h.clock().SetWall(March(10, 10, 1));
  const Admission next = FireTeam(h, restarted, 7);
  CHECK_FALSE(next.duplicate);
  CHECK(EventsOf(h, 7) == Strings{"accepted 2026-03-10"});
}

TEST_CASE("a store whose format is newer than this broker's is refused") {
  testing::TempDir dir;
  const std::string path = dir.Sub("db");
  { REQUIRE(RocksStore::Open(path, false).ok()); }
  {
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    REQUIRE(db->Put(rocksdb::WriteOptions(), kStoreFormatKey, std::to_string(kStoreFormat + 1)).ok());
  }
  auto store = RocksStore::Open(path, false);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find("format") != std::string::npos);
}

}  // namespace broker::testing_support
