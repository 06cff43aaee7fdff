// RocksStore: what one Commit writes comes back through every index, and it
// survives closing and reopening the database.
#include "broker/rocks_store.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "schemas/codec.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

std::unique_ptr<RocksStore> OpenStore(const testing::TempDir& dir) {
  auto store = RocksStore::Open(dir.Sub("db"), /*sync=*/false);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(store).value();
}

schemas::RunRecord MakeRun(std::uint64_t number, std::uint32_t team, const std::string& state) {
  auto parsed = schemas::ParseRunState(state);
  REQUIRE(parsed);
  schemas::RunRecord run;
  run.run_id = RunIdFor(number);
  run.key = "key-" + std::to_string(number);
  run.team = team;
  run.kind = "manual";
  run.state = *parsed;
  run.pdate = "2026-03-10";
  run.accepted_unix_ms = 1000 + static_cast<std::int64_t>(number);
  return run;
}

schemas::LoggedEvent MakeEvent(std::uint64_t seq, const std::string& topic = "run.accepted") {
  schemas::LoggedEvent e;
  e.seq = seq;
  e.topic = topic;
  const std::string payload = "payload-" + std::to_string(seq);
  e.payload.assign(payload.begin(), payload.end());
  e.at_unix_ms = static_cast<std::int64_t>(seq) * 1000;  // event n logged at n s
  return e;
}

// Commits a new run with one event, as RunManager does on admission.
void AddRun(RocksStore& store, const schemas::RunRecord& run, std::uint64_t seq) {
  Change change;
  change.run = run;
  change.new_run = true;
  change.events.push_back(MakeEvent(seq));
  REQUIRE(store.Commit(change).ok());
}

std::vector<std::string> Ids(const std::vector<schemas::RunRecord>& runs) {
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(r.run_id);
  return ids;
}

TEST_CASE("run ids are zero-padded so they sort in acceptance order") {
  CHECK(RunIdFor(1) == "r0000000001");
  CHECK(RunIdFor(42) == "r0000000042");
  CHECK(RunIdFor(9) < RunIdFor(10));
}

TEST_CASE("an empty store has nothing and counts from zero") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  CHECK(store->LastSeq().value() == 0);
  CHECK(store->LastRunNumber().value() == 0);
  CHECK(store->LoadTeams().value().empty());
  CHECK(store->LoadActiveRuns().value().empty());
  CHECK(store->ListRuns(std::nullopt, 10).value().empty());
  CHECK(store->EventsAfter(0, 10).value().empty());
  CHECK(store->GetRun("r0000000001").status().code() == common::Code::kNotFound);
  CHECK(store->FindRunIdByKey("nope").status().code() == common::Code::kNotFound);
}

TEST_CASE("a committed run reads back by id, by key and in the lists") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  schemas::RunRecord run = MakeRun(1, 7, "accepted");
  run.metrics = {{"wac", 6.5}};
  AddRun(*store, run, 1);

  auto got = store->GetRun(run.run_id);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(got.value().key == "key-1");
  CHECK(got.value().team == 7);
  CHECK(got.value().state == schemas::RunState::kAccepted);
  CHECK(got.value().metrics.at("wac") == doctest::Approx(6.5));

  auto id = store->FindRunIdByKey("key-1");
  REQUIRE(id.ok());
  CHECK(id.value() == run.run_id);
  CHECK(Ids(store->ListRuns(std::nullopt, 10).value()) == std::vector<std::string>{run.run_id});
  CHECK(Ids(store->ListRuns(7u, 10).value()) == std::vector<std::string>{run.run_id});
  CHECK(store->ListRuns(8u, 10).value().empty());
  CHECK(store->LastRunNumber().value() == 1);
}

TEST_CASE("a later change to a run replaces its record without duplicating indexes") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  schemas::RunRecord run = MakeRun(1, 7, "accepted");
  AddRun(*store, run, 1);
  run.state = schemas::RunState::kRunning;
  run.attempt = 1;
  Change change;
  change.run = run;
  change.events.push_back(MakeEvent(2, "run.started"));
  REQUIRE(store->Commit(change).ok());

  CHECK(store->GetRun(run.run_id).value().state == schemas::RunState::kRunning);
  CHECK(store->ListRuns(std::nullopt, 10).value().size() == 1);
  CHECK(store->ListRuns(7u, 10).value().size() == 1);
  CHECK(store->ListRuns(7u, 10).value()[0].state == schemas::RunState::kRunning);
}

TEST_CASE("ListRuns is newest first, filters by team and honours the limit") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  // Teams 1, 2, 1, 10, 1 (10 checks that team 1's prefix does not match 10).
  const std::vector<std::uint32_t> teams = {1, 2, 1, 10, 1};
  for (std::uint64_t n = 1; n <= teams.size(); ++n) AddRun(*store, MakeRun(n, teams[n - 1], "succeeded"), n);

  using V = std::vector<std::string>;
  SUBCASE("all teams") {
    CHECK(Ids(store->ListRuns(std::nullopt, 100).value()) ==
          V{"r0000000005", "r0000000004", "r0000000003", "r0000000002", "r0000000001"});
  }
  SUBCASE("all teams, limited") {
    CHECK(Ids(store->ListRuns(std::nullopt, 2).value()) == V{"r0000000005", "r0000000004"});
  }
  SUBCASE("one team") {
    CHECK(Ids(store->ListRuns(1u, 100).value()) == V{"r0000000005", "r0000000003", "r0000000001"});
    CHECK(Ids(store->ListRuns(10u, 100).value()) == V{"r0000000004"});
    CHECK(Ids(store->ListRuns(2u, 100).value()) == V{"r0000000002"});
  }
  SUBCASE("one team, limited") {
    CHECK(Ids(store->ListRuns(1u, 2).value()) == V{"r0000000005", "r0000000003"});
  }
  SUBCASE("limit zero") {
    CHECK(store->ListRuns(std::nullopt, 0).value().empty());
  }
  SUBCASE("a team with no runs, numbered after all others") {
    CHECK(store->ListRuns(999u, 100).value().empty());
  }
}

TEST_CASE("the active index holds exactly the runs not yet terminal") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  AddRun(*store, MakeRun(1, 1, "running"), 1);
  AddRun(*store, MakeRun(2, 2, "skipped"), 2);
  AddRun(*store, MakeRun(3, 3, "queued"), 3);
  AddRun(*store, MakeRun(4, 4, "retry_wait"), 4);
  CHECK(Ids(store->LoadActiveRuns().value()) ==
        std::vector<std::string>{"r0000000001", "r0000000003", "r0000000004"});

  SUBCASE("a run that ends leaves the index") {
    schemas::RunRecord done = MakeRun(1, 1, "succeeded");
    Change change;
    change.run = done;
    REQUIRE(store->Commit(change).ok());
    CHECK(Ids(store->LoadActiveRuns().value()) ==
          std::vector<std::string>{"r0000000003", "r0000000004"});
    // The record itself stays, in its final state.
    CHECK(store->GetRun("r0000000001").value().state == schemas::RunState::kSucceeded);
  }
  SUBCASE("each terminal state counts") {
    for (const char* state : {"failed", "cancelled"}) {
      schemas::RunRecord r = MakeRun(3, 3, state);
      Change change;
      change.run = r;
      REQUIRE(store->Commit(change).ok());
    }
    CHECK(Ids(store->LoadActiveRuns().value()) ==
          std::vector<std::string>{"r0000000001", "r0000000004"});
  }
}

TEST_CASE("EventsAfter returns events above a seq, oldest first, up to a limit") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  Change change;
  for (std::uint64_t seq = 1; seq <= 12; ++seq) change.events.push_back(MakeEvent(seq));
  REQUIRE(store->Commit(change).ok());

  auto seqs = [](const std::vector<schemas::LoggedEvent>& events) {
    std::vector<std::uint64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
  };
  using V = std::vector<std::uint64_t>;
  CHECK(seqs(store->EventsAfter(0, 3).value()) == V{1, 2, 3});
  CHECK(seqs(store->EventsAfter(9, 100).value()) == V{10, 11, 12});
  CHECK(seqs(store->EventsAfter(12, 100).value()).empty());
  CHECK(seqs(store->EventsAfter(8, 2).value()) == V{9, 10});
  // Ordered numerically, not as text: 10 after 9.
  CHECK(seqs(store->EventsAfter(0, 100).value()) == V{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});

  const auto events = store->EventsAfter(4, 1).value();
  REQUIRE(events.size() == 1);
  CHECK(events[0].topic == "run.accepted");
  CHECK(std::string(events[0].payload.begin(), events[0].payload.end()) == "payload-5");
  CHECK(store->LastSeq().value() == 12);
}

TEST_CASE("sequence and run numbers survive a reopen") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir);
    for (std::uint64_t n = 1; n <= 11; ++n) AddRun(*store, MakeRun(n, 1, "succeeded"), n * 2);
    CHECK(store->LastSeq().value() == 22);
    CHECK(store->LastRunNumber().value() == 11);
  }
  auto store = OpenStore(dir);
  CHECK(store->LastSeq().value() == 22);
  CHECK(store->LastRunNumber().value() == 11);
  CHECK(store->FindRunIdByKey("key-11").value() == "r0000000011");
  CHECK(store->EventsAfter(20, 10).value().size() == 1);
}

TEST_CASE("teams and team tallies are persisted across a reopen") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir);
    for (std::uint32_t id : {0u, 3u, 12u}) {
      schemas::TeamRecord t;
      t.id = id;
      t.name = "team-" + std::to_string(id);
      t.run_time = "04:00";
      Change change;
      change.team_put = t;
      REQUIRE(store->Commit(change).ok());
    }
    Change remove;
    remove.team_remove = 3;
    REQUIRE(store->Commit(remove).ok());

    schemas::TeamStatus status;
    status.consecutive_failures = 4;
    status.alerted = true;
    Change tally;
    tally.team_status = {{12, status}};
    REQUIRE(store->Commit(tally).ok());
  }
  auto store = OpenStore(dir);
  auto teams = store->LoadTeams();
  REQUIRE(teams.ok());
  REQUIRE(teams.value().size() == 2);
  CHECK(teams.value()[0].id == 0);
  CHECK(teams.value()[1].id == 12);
  CHECK(teams.value()[1].name == "team-12");
  CHECK(teams.value()[1].run_time == "04:00");

  auto statuses = store->LoadTeamStatuses();
  REQUIRE(statuses.ok());
  REQUIRE(statuses.value().size() == 1);
  CHECK(statuses.value()[0].first == 12);
  CHECK(statuses.value()[0].second.consecutive_failures == 4);
  CHECK(statuses.value()[0].second.alerted);
}

TEST_CASE("one Commit writes the run, its team tally and its events together") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  Change change;
  change.run = MakeRun(1, 5, "failed");
  change.new_run = true;
  schemas::TeamStatus status;
  status.consecutive_failures = 1;
  change.team_status = {{5, status}};
  change.events = {MakeEvent(1, "run.failed"), MakeEvent(2, "alert.consecutive_failures")};
  REQUIRE(store->Commit(change).ok());

  CHECK(store->GetRun("r0000000001").value().state == schemas::RunState::kFailed);
  CHECK(store->LoadTeamStatuses().value().at(0).second.consecutive_failures == 1);
  CHECK(store->EventsAfter(0, 10).value().size() == 2);
  CHECK(store->LoadActiveRuns().value().empty());
}

TEST_CASE("PruneEventsBefore drops events older than the cutoff but always keeps the newest") {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  Change change;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) change.events.push_back(MakeEvent(seq));
  REQUIRE(store->Commit(change).ok());

  SUBCASE("a cutoff in the middle") {
    CHECK(store->PruneEventsBefore(6000, SIZE_MAX).value() == 5);
    const auto events = store->EventsAfter(0, 100).value();
    REQUIRE(events.size() == 5);
    CHECK(events.front().seq == 6);
    CHECK(store->LastSeq().value() == 10);
  }
  SUBCASE("a cutoff after everything keeps the newest, so the seq survives a reopen") {
    CHECK(store->PruneEventsBefore(1'000'000, SIZE_MAX).value() == 9);
    const auto events = store->EventsAfter(0, 100).value();
    REQUIRE(events.size() == 1);
    CHECK(events[0].seq == 10);
    store.reset();
    store = OpenStore(dir);
    CHECK(store->LastSeq().value() == 10);
  }
  SUBCASE("a cutoff before everything removes nothing") {
    CHECK(store->PruneEventsBefore(500, SIZE_MAX).value() == 0);
    CHECK(store->EventsAfter(0, 100).value().size() == 10);
  }
  SUBCASE("pruning twice removes nothing more") {
    CHECK(store->PruneEventsBefore(6000, SIZE_MAX).value() == 5);
    CHECK(store->PruneEventsBefore(6000, SIZE_MAX).value() == 0);
    CHECK(store->EventsAfter(0, 100).value().size() == 5);
  }
}

TEST_CASE("an archived run keeps its stub and key, leaves its team's history, and checks clean") {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir);
    schemas::RunRecord old = MakeRun(1, 7, "succeeded");
    old.metrics["rows"] = 12;
    old.stderr_tail = "a long reason";
    old.log_path = "/logs/r1.log";
    AddRun(*store, old, 1);
    AddRun(*store, MakeRun(2, 7, "failed"), 2);
    AddRun(*store, MakeRun(3, 7, "running"), 3);
    CHECK(Ids(store->RunsAfter("", 10).value()) ==
          std::vector<std::string>{RunIdFor(1), RunIdFor(2), RunIdFor(3)});
    CHECK(Ids(store->RunsAfter(RunIdFor(1), 1).value()) == std::vector<std::string>{RunIdFor(2)});
    CHECK(store->RunsArchivedThrough().value().empty());
    REQUIRE(store->ArchiveRuns({old}, RunIdFor(1)).ok());
  }
  auto store = OpenStore(dir);  // and it survives a reopen
  CHECK(store->RunsArchivedThrough().value() == RunIdFor(1));
  const schemas::RunRecord stub = store->GetRun(RunIdFor(1)).value();
  CHECK(stub.archived);
  CHECK(stub.state == schemas::RunState::kSucceeded);
  CHECK(stub.key == "key-1");
  CHECK(stub.metrics.empty());
  CHECK(stub.stderr_tail.empty());
  CHECK(stub.log_path.empty());
  CHECK(store->FindRunIdByKey("key-1").value() == RunIdFor(1));
  CHECK(Ids(store->ListRuns(7, 10).value()) == std::vector<std::string>{RunIdFor(3), RunIdFor(2)});
  CHECK(Ids(store->ListRuns(std::nullopt, 10).value()) ==
        std::vector<std::string>{RunIdFor(3), RunIdFor(2)});
  auto report = store->Check();
  REQUIRE(report.ok());
  CHECK_MESSAGE(report.value().problems.empty(), report.value().problems.front());
}

TEST_CASE("opening a path that cannot be a database fails with a Status") {
  testing::TempDir dir;
  const std::string file = dir.WriteFile("not-a-dir", "x");
  auto store = RocksStore::Open(file + "/db", false);
  CHECK_FALSE(store.ok());
  CHECK(store.status().message().find("open") != std::string::npos);
}

TEST_CASE("a second opener of the same database is refused, not corrupted") {
  testing::TempDir dir;
  auto first = OpenStore(dir);
  auto second = RocksStore::Open(dir.Sub("db"), false);
  CHECK_FALSE(second.ok());
}

}  // namespace
}  // namespace broker
