// RunManager: the broker's state machine, driven through its public surface
// (Admit, OnRunnerMessage, Tick, Cancel, PutTeam/RemoveTeam, Load) over a
// real RocksDB in a temp directory and a FakeClock.
#include "broker/run_manager.h"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "schemas/codec.h"
#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

// ---- teams ---------------------------------------------------------------------

TEST_CASE("the general team 0 exists after Load and is created only once") {
  Harness h;
  REQUIRE(h.teams().Find(0) != nullptr);
  CHECK(h.teams().Find(0)->name == "general");
  auto stored = h.store().LoadTeams();
  REQUIRE(stored.ok());
  REQUIRE(stored.value().size() == 1);
  CHECK(stored.value()[0].id == 0);
  REQUIRE(h.changes().size() == 1);
  CHECK(h.changes()[0].team == 0);
  CHECK(h.changes()[0].change == "put");

  h.Restart();
  CHECK(h.teams().Find(0) != nullptr);
  CHECK(h.changes().size() == 1);  // not put again
}

TEST_CASE("PutTeam stores the team, announces it, and it survives a restart") {
  Harness h;
  const std::size_t before = h.changes().size();
  h.AddTeam(5, "queue");
  REQUIRE(h.changes().size() == before + 1);
  CHECK(h.changes().back().team == 5);
  CHECK(h.changes().back().change == "put");
  REQUIRE(h.teams().Find(5) != nullptr);
  CHECK(h.teams().Find(5)->overlap == "queue");
  CHECK(h.teams().Find(5)->created_unix_ms == h.NowMs());

  h.Restart();
  REQUIRE(h.teams().Find(5) != nullptr);
  CHECK(h.teams().Find(5)->overlap == "queue");
}

TEST_CASE("an invalid team is refused, not stored and not announced") {
  Harness h;
  const std::size_t before = h.changes().size();
  schemas::TeamRecord t;
  t.id = 5;
  t.timezone = "Nowhere/Land";
  common::Status s = h.m().PutTeam(t);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("Nowhere/Land") != std::string::npos);
  CHECK(h.teams().Find(5) == nullptr);
  CHECK(h.m().TakeOutbox().empty());
  CHECK(h.changes().size() == before);
  h.Restart();
  CHECK(h.teams().Find(5) == nullptr);
}

TEST_CASE("RemoveTeam refuses the general team and unknown teams") {
  Harness h;
  SUBCASE("team 0") {
    common::Status s = h.m().RemoveTeam(0);
    CHECK(s.code() == common::Code::kRejected);
    CHECK(h.teams().Find(0) != nullptr);
    CHECK(h.m().TakeOutbox().empty());
  }
  SUBCASE("an unknown team") {
    common::Status s = h.m().RemoveTeam(77);
    CHECK(s.code() == common::Code::kNotFound);
    CHECK(h.m().TakeOutbox().empty());
  }
}

TEST_CASE("a removed team is announced, refuses runs and stays removed after a restart") {
  Harness h;
  h.AddTeam(5);
  const std::size_t before = h.changes().size();
  REQUIRE(h.m().RemoveTeam(5).ok());
  h.Collect();
  REQUIRE(h.changes().size() == before + 1);
  CHECK(h.changes().back().team == 5);
  CHECK(h.changes().back().change == "remove");
  CHECK(h.teams().Find(5) == nullptr);

  CHECK(h.Admit(h.Manual(5)).status.code() == common::Code::kNotFound);
  h.Restart();
  CHECK(h.teams().Find(5) == nullptr);
}

// ---- admission -------------------------------------------------------------------

TEST_CASE("the same key twice is one run") {
  Harness h;
  h.AddTeam(1);
  const schemas::DueEvent due = h.Scheduled(1, h.NowMs() - 1000);
  const Admission first = h.Admit(due);
  REQUIRE_MESSAGE(first.status.ok(), first.status.ToString());
  CHECK_FALSE(first.duplicate);
  CHECK(first.run.key == due.key);

  SUBCASE("while it waits") {}
  SUBCASE("after it ended") {
    h.Hello("runner-a");
    const BrokerMessage d = h.OneDispatch("runner-a");
    h.Result("runner-a", d.run_id, d.attempt, "succeeded");
    REQUIRE(h.State(first.run.run_id) == "succeeded");
  }
  SUBCASE("after a broker restart") { h.Restart(); }

  const Admission second = h.Admit(due);
  CHECK(second.status.ok());
  CHECK(second.duplicate);
  CHECK(second.run.run_id == first.run.run_id);
  CHECK(h.m().counters().duplicates == 1);
  const Strings names = h.EventNames(first.run.run_id);
  CHECK(std::count(names.begin(), names.end(), std::string("accepted")) == 1);
  CHECK(h.store().ListRuns(std::nullopt, 10).value().size() == 1);
}

TEST_CASE("manual runs without a key are never duplicates") {
  Harness h;
  h.AddTeam(1, "queue");
  const std::string a = h.AdmitOk(1);
  const std::string b = h.AdmitOk(1);
  CHECK(a != b);
  CHECK(h.Run(a).key == "manual:" + a);
  CHECK(h.Run(b).key == "manual:" + b);
}

TEST_CASE("a due event for an unknown team is refused and records nothing") {
  Harness h;
  const Admission a = h.Admit(h.Manual(99, "k"));
  CHECK(a.status.code() == common::Code::kNotFound);
  CHECK(a.status.message().find("team 99") != std::string::npos);
  CHECK(a.run.run_id.empty());
  CHECK(h.events().empty());
  CHECK(h.store().ListRuns(std::nullopt, 10).value().empty());
  CHECK(h.store().FindRunIdByKey("k").status().code() == common::Code::kNotFound);
}

TEST_CASE("an accepted run carries what the due event said, with defaults filled in") {
  Harness h;
  h.AddTeam(3);
  schemas::DueEvent due = h.Scheduled(3, h.NowMs() - 5000);
  due.requested_by = "ticker";
  const Admission a = h.Admit(due);
  REQUIRE(a.status.ok());
  const RunRecord r = h.Run(a.run.run_id);
  CHECK(r.state == schemas::RunState::kAccepted);
  CHECK(r.team == 3);
  CHECK(r.kind == "scheduled");
  CHECK(r.fire_unix_ms == due.fire_unix_ms);
  CHECK(r.local_date == "2026-03-08");
  CHECK(r.pdate == "2026-03-10");  // the first Tuesday after Sunday 2026-03-08
  CHECK(r.accepted_unix_ms == h.NowMs());
  CHECK(r.max_attempts == 3);       // the default
  CHECK(r.attempt == 0);
  CHECK(r.requested_by == "ticker");
  CHECK(h.EventNames(r.run_id) == Strings{"accepted"});

  SUBCASE("an explicit purchase date wins") {
    schemas::DueEvent with_pdate = h.Scheduled(3, h.NowMs() - 1000);
    with_pdate.pdate = "2026-04-01";
    h.Hello("runner-a");
    h.Result("runner-a", h.OneDispatch("runner-a").run_id, 1, "succeeded");
    const Admission b = h.Admit(with_pdate);
    REQUIRE(b.status.ok());
    CHECK(h.Run(b.run.run_id).pdate == "2026-04-01");
  }
}

TEST_CASE("a scheduled run older than the misfire grace is missed") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");

  SUBCASE("beyond the grace: missed, with the reason, never dispatched") {
    const Admission a = h.Admit(h.Scheduled(1, h.NowMs() - 60'001));
    REQUIRE(a.status.ok());
    const RunRecord r = h.Run(a.run.run_id);
    CHECK(r.state == schemas::RunState::kMissed);
    CHECK(r.error.find("missed by 60 s") != std::string::npos);
    CHECK(r.error.find("grace 60 s") != std::string::npos);
    CHECK(r.finished_unix_ms == h.NowMs());
    CHECK(h.EventNames(r.run_id) == Strings{"missed"});
    CHECK(h.Sent("runner-a", "dispatch").empty());
    CHECK(h.m().active_runs() == 0);
    // It did not take the team: the next run is accepted, not skipped.
    const std::string next = h.AdmitOk(1);
    CHECK(h.State(next) == "dispatched");
  }
  SUBCASE("exactly at the grace: accepted") {
    const Admission a = h.Admit(h.Scheduled(1, h.NowMs() - 60'000));
    REQUIRE(a.status.ok());
    CHECK(h.State(a.run.run_id) == "dispatched");
  }
  SUBCASE("within the grace: accepted and dispatched") {
    const Admission a = h.Admit(h.Scheduled(1, h.NowMs() - 1000));
    REQUIRE(a.status.ok());
    CHECK(h.EventNames(a.run.run_id) == Strings{"accepted", "dispatched"});
    CHECK(h.OneDispatch("runner-a").run_id == a.run.run_id);
  }
  SUBCASE("manual runs are never missed") {
    const std::string id = h.AdmitOk(1, "manual-1");
    CHECK(h.State(id) == "dispatched");
  }
  SUBCASE("backfill runs are never missed") {
    const Admission a = h.Admit(h.Scheduled(1, h.NowMs() - 10 * 86'400'000LL, "backfill"));
    REQUIRE(a.status.ok());
    CHECK(h.State(a.run.run_id) == "dispatched");
  }
}

// ---- one active run per team --------------------------------------------------------

TEST_CASE("a run that arrives while its team is busy is skipped under overlap skip") {
  Harness h;
  h.AddTeam(1);  // default overlap: skip
  h.AddTeam(2);
  h.Hello("runner-a", 3);
  const std::string first = h.AdmitOk(1, "k1");
  h.OneDispatch("runner-a");

  SUBCASE("while dispatched") {}
  SUBCASE("while running") { h.Started("runner-a", first, 1); }
  SUBCASE("while waiting to retry") {
    h.Result("runner-a", first, 1, "transient", "flaky");
    REQUIRE(h.State(first) == "retry_wait");
  }

  const Admission second = h.Admit(h.Scheduled(1, h.NowMs() - 1000));
  REQUIRE(second.status.ok());
  const RunRecord r = h.Run(second.run.run_id);
  CHECK(r.state == schemas::RunState::kSkipped);
  CHECK(r.error.find("busy with run " + first) != std::string::npos);
  CHECK(h.EventNames(r.run_id) == Strings{"skipped"});
  CHECK(h.Sent("runner-a", "dispatch").empty());

  // Another team is not affected.
  const std::string other = h.AdmitOk(2);
  CHECK(h.OneDispatch("runner-a").run_id == other);
}

TEST_CASE("a team is free again once its run ends") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  h.RunOnce(1, "runner-a", "succeeded");
  const std::string next = h.AdmitOk(1);
  CHECK(h.State(next) == "dispatched");
}

TEST_CASE("under overlap queue a busy team's runs wait their turn in order") {
  Harness h;
  h.AddTeam(1, "queue");
  h.Hello("runner-a", 3);
  const std::string r1 = h.AdmitOk(1, "k1");
  CHECK(h.OneDispatch("runner-a").run_id == r1);
  const std::string r2 = h.AdmitOk(1, "k2");
  const std::string r3 = h.AdmitOk(1, "k3");
  CHECK(h.State(r2) == "queued");
  CHECK(h.State(r3) == "queued");
  CHECK(h.EventNames(r2) == Strings{"queued"});
  CHECK(h.Sent("runner-a", "dispatch").empty());

  h.Started("runner-a", r1, 1);
  h.Result("runner-a", r1, 1, "succeeded");
  CHECK(h.State(r1) == "succeeded");
  CHECK(h.OneDispatch("runner-a").run_id == r2);
  CHECK(h.EventNames(r2) == Strings{"queued", "accepted", "dispatched"});
  CHECK(h.State(r3) == "queued");

  h.Result("runner-a", r2, 1, "failed", "bad tape");
  CHECK(h.State(r2) == "failed");
  CHECK(h.OneDispatch("runner-a").run_id == r3);
}

TEST_CASE("a backfill is queued behind a busy team even under overlap skip") {
  Harness h;
  h.AddTeam(1);  // skip
  h.Hello("runner-a", 2);
  const std::string r1 = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  const Admission backfill = h.Admit(h.Scheduled(1, h.NowMs() - 86'400'000LL, "backfill"));
  REQUIRE(backfill.status.ok());
  CHECK(h.State(backfill.run.run_id) == "queued");
  h.Result("runner-a", r1, 1, "succeeded");
  CHECK(h.OneDispatch("runner-a").run_id == backfill.run.run_id);
}

// ---- dispatch ----------------------------------------------------------------------

TEST_CASE("runs are dispatched only to runners with a free slot") {
  Harness h;
  h.AddTeam(1);
  h.AddTeam(2);
  h.AddTeam(3);

  const std::string r1 = h.AdmitOk(1);
  CHECK(h.State(r1) == "accepted");  // no runner yet
  CHECK(h.DispatchCount() == 0);

  h.Hello("runner-a", 1);
  const BrokerMessage d1 = h.OneDispatch("runner-a");
  CHECK(d1.run_id == r1);
  CHECK(d1.attempt == 1);
  CHECK(d1.team == 1);
  CHECK(d1.pdate == h.Run(r1).pdate);
  CHECK(d1.key == h.Run(r1).key);
  CHECK(h.Run(r1).runner_id == "runner-a");

  const std::string r2 = h.AdmitOk(2);
  CHECK(h.State(r2) == "accepted");  // runner-a is full
  CHECK(h.DispatchCount() == 0);

  h.Hello("runner-b", 2);
  CHECK(h.OneDispatch("runner-b").run_id == r2);
  const std::string r3 = h.AdmitOk(3);
  CHECK(h.OneDispatch("runner-b").run_id == r3);  // the one with room

  // A slot comes free when a result arrives.
  h.Result("runner-a", r1, 1, "succeeded");
  const std::string r4 = h.AdmitOk(1);
  CHECK(h.OneDispatch("runner-a").run_id == r4);
}

TEST_CASE("a team's own command travels with the dispatch") {
  Harness h;
  schemas::TeamRecord t;
  t.id = 4;
  t.command = {"/opt/team4/run", "--fast"};
  REQUIRE(h.m().PutTeam(t).ok());
  h.Hello("runner-a");
  h.AdmitOk(4);
  CHECK(h.OneDispatch("runner-a").command == Strings{"/opt/team4/run", "--fast"});
}

// ---- results --------------------------------------------------------------------------

TEST_CASE("started and result count only for the current attempt") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");

  h.Started("runner-a", id, 2);
  CHECK(h.State(id) == "dispatched");
  CHECK(h.m().counters().stale_results == 1);

  h.Started("runner-a", id, 1);
  CHECK(h.State(id) == "running");
  CHECK(h.Run(id).log_path == "/logs/" + id + ".1");

  SUBCASE("a result for another attempt is ignored, counted and acknowledged") {
    h.Result("runner-a", id, 7, "succeeded");
    CHECK(h.State(id) == "running");
    CHECK(h.m().counters().stale_results == 2);
    const auto acks = h.Sent("runner-a", "ack");
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].run_id == id);
    CHECK(acks[0].attempt == 7);
  }
  SUBCASE("a result for an unknown run is acknowledged too") {
    h.Result("runner-a", "r9999999999", 1, "succeeded");
    CHECK(h.m().counters().stale_results == 2);
    CHECK(h.Sent("runner-a", "ack").size() == 1);
  }
  SUBCASE("a resent result after the run ended is acknowledged and changes nothing") {
    h.Result("runner-a", id, 1, "succeeded");
    CHECK(h.Sent("runner-a", "ack").size() == 1);
    const std::size_t events = h.events().size();
    h.Result("runner-a", id, 1, "failed");
    CHECK(h.State(id) == "succeeded");
    CHECK(h.events().size() == events);
    CHECK(h.Sent("runner-a", "ack").size() == 1);
  }
}

TEST_CASE("a successful result completes the run with the pipeline's numbers") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.RunOnce(1, "runner-a", "succeeded");
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kSucceeded);
  CHECK(r.exit_code == 0);
  CHECK(r.total_loans == 100);
  CHECK(r.error.empty());
  CHECK(r.finished_unix_ms == h.NowMs());
  CHECK(h.EventNames(id) == Strings{"accepted", "dispatched", "started", "completed"});
  const auto acks = h.Sent("runner-a", "ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].attempt == 1);
  CHECK(h.m().active_runs() == 0);
  CHECK(h.store().LoadActiveRuns().value().empty());
}

TEST_CASE("a transient failure waits a jittered backoff, then runs again") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  const std::int64_t failed_at = h.NowMs();
  h.Result("runner-a", id, 1, "transient", "share offline");

  RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error == "share offline");
  CHECK(h.EventNames(id).back() == "retrying");
  // Equal jitter on the first backoff of 10 s: 5 s to 10 s from now.
  CHECK(r.next_attempt_unix_ms >= failed_at + 5'000);
  CHECK(r.next_attempt_unix_ms <= failed_at + 10'000);
  CHECK(h.Sent("runner-a", "ack").size() == 1);

  h.AdvanceToWall(r.next_attempt_unix_ms - 1);
  CHECK(h.State(id) == "retry_wait");
  CHECK(h.Sent("runner-a", "dispatch").empty());

  h.Advance(1ms);
  const BrokerMessage d = h.OneDispatch("runner-a");
  CHECK(d.run_id == id);
  CHECK(d.attempt == 2);
  r = h.Run(id);
  CHECK(r.state == schemas::RunState::kDispatched);
  CHECK(r.attempt == 2);
  CHECK(r.next_attempt_unix_ms == 0);
  CHECK(r.error.empty());

  SUBCASE("the second backoff doubles") {
    const std::int64_t second_failure = h.NowMs();
    h.Result("runner-a", id, 2, "transient", "still offline");
    r = h.Run(id);
    CHECK(r.state == schemas::RunState::kRetryWait);
    CHECK(r.next_attempt_unix_ms >= second_failure + 10'000);
    CHECK(r.next_attempt_unix_ms <= second_failure + 20'000);
  }
  SUBCASE("the last attempt failing fails the run") {
    h.Result("runner-a", id, 2, "transient", "still offline");
    CHECK(h.RetryDispatch(id, "runner-a").attempt == 3);
    h.Result("runner-a", id, 3, "transient", "offline for good");
    r = h.Run(id);
    CHECK(r.state == schemas::RunState::kFailed);
    CHECK(r.attempt == 3);
    CHECK(r.error == "offline for good");
    CHECK(h.EventNames(id).back() == "failed");
    // The team is free again.
    CHECK(h.State(h.AdmitOk(1)) == "dispatched");
  }
}

TEST_CASE("backoff stays within half to all of the capped exponential delay") {
  // Several seeds, so the bounds are tested and not one lucky draw.
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    Settings s = TestSettings();
    s.jitter_seed = seed;
    s.retry.initial = 10s;
    s.retry.max = 25s;
    Harness h(s);
    h.AddTeam(1, "", /*max_attempts=*/5);
    h.Hello("runner-a");
    const std::string id = h.AdmitOk(1);
    // Full delays 10 s, 20 s, then 40 s capped at 25 s, twice.
    const std::int64_t full[] = {10'000, 20'000, 25'000, 25'000};
    for (std::uint32_t attempt = 1; attempt <= 4; ++attempt) {
      CAPTURE(attempt);
      REQUIRE(h.OneDispatch("runner-a").attempt == attempt);
      const std::int64_t now = h.NowMs();
      h.Result("runner-a", id, attempt, "transient");
      const RunRecord r = h.Run(id);
      REQUIRE(r.state == schemas::RunState::kRetryWait);
      CHECK(r.next_attempt_unix_ms >= now + full[attempt - 1] / 2);
      CHECK(r.next_attempt_unix_ms <= now + full[attempt - 1]);
      h.AdvanceToWall(r.next_attempt_unix_ms);
    }
  }
}

TEST_CASE("a non-transient failure fails the run at once unless retry_on is any") {
  SUBCASE("retry_on transient") {
    Harness h;
    h.AddTeam(1);
    h.Hello("runner-a");
    const std::string id = h.RunOnce(1, "runner-a", "failed");
    CHECK(h.State(id) == "failed");
    CHECK(h.Run(id).attempt == 1);
    CHECK(h.Run(id).exit_code == 1);
    CHECK(h.Run(id).error == "exit 1");
    CHECK(h.EventNames(id).back() == "failed");
  }
  SUBCASE("retry_on any") {
    Settings s = TestSettings();
    s.retry.retry_any_failure = true;
    Harness h(s);
    h.AddTeam(1);
    h.Hello("runner-a");
    const std::string id = h.RunOnce(1, "runner-a", "failed");
    CHECK(h.State(id) == "retry_wait");
  }
  SUBCASE("a team allowed one attempt fails on a transient error too") {
    Harness h;
    h.AddTeam(1, "", /*max_attempts=*/1);
    h.Hello("runner-a");
    const std::string id = h.RunOnce(1, "runner-a", "transient");
    CHECK(h.State(id) == "failed");
    CHECK(h.Run(id).max_attempts == 1);
  }
}

// ---- runners going away ------------------------------------------------------------

TEST_CASE("a runner silent past the liveness window loses its run to another runner") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Hello("runner-b");
  h.Started("runner-a", id, 1);  // runner-a's last sign of life
  h.Silence("runner-a");

  h.Advance(3000ms);  // exactly heartbeat * liveness: still counted alive
  CHECK(h.m().runner_count() == 2);
  CHECK(h.State(id) == "running");

  h.Advance(1ms);
  CHECK(h.m().runner_count() == 1);
  RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("runner-a stopped answering") != std::string::npos);

  CHECK(h.RetryDispatch(id, "runner-b").attempt == 2);
  CHECK(h.Sent("runner-a", "dispatch").empty());

  // runner-a's late result does not count: first it must say hello again,
  // and then the result is stale (answered, so it is not resent forever);
  // runner-b's counts.
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "dispatched");
  CHECK(h.Sent("runner-a", "ack").empty());
  CHECK_FALSE(h.Sent("runner-a", "welcome").empty());
  h.Hello("runner-a");
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "dispatched");
  const auto acks = h.Sent("runner-a", "ack");
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(acks[0].error.empty());
  h.Result("runner-b", id, 2, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("a message from a runner the broker does not know asks it to say hello") {
  Harness h;
  h.Heartbeat("ghost");
  const auto welcomes = h.Sent("ghost", "welcome");
  REQUIRE(welcomes.size() == 1);
  CHECK(welcomes[0].key == "hello-required");
  CHECK(h.m().runner_count() == 0);
}

TEST_CASE("a runner that leaves or restarts loses the runs it no longer holds") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  std::string why;
  SUBCASE("bye") {
    h.Bye("runner-a");
    CHECK(h.m().runner_count() == 0);
    why = "runner-a left";
  }
  SUBCASE("hello again without the run") {
    h.Hello("runner-a");
    CHECK(h.m().runner_count() == 1);
    why = "restarted and lost it";
  }
  const RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find(why) != std::string::npos);
}

TEST_CASE("a runner that says hello again with its run keeps it") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  h.Hello("runner-a", 1, {{id, 1, ""}});
  CHECK(h.State(id) == "running");
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
}

// ---- alerts --------------------------------------------------------------------------

TEST_CASE("consecutive failures alert once per streak and recovery is announced") {
  Harness h;
  h.AddTeam(1);
  h.AddTeam(2);
  h.Hello("runner-a");

  h.RunOnce(1, "runner-a", "failed");
  h.RunOnce(1, "runner-a", "failed");
  CHECK(h.alerts().empty());

  SUBCASE("another team's failures do not count") {
    h.RunOnce(2, "runner-a", "failed");
    CHECK(h.alerts().empty());
  }
  SUBCASE("transient failures that are retried do not count") {
    const std::string id = h.AdmitOk(1);
    h.OneDispatch("runner-a");
    h.Result("runner-a", id, 1, "transient");
    h.Result("runner-a", id, h.RetryDispatch(id, "runner-a").attempt, "succeeded");
    CHECK(h.alerts().empty());
    const auto statuses = h.store().LoadTeamStatuses().value();
    REQUIRE(statuses.size() == 1);
    CHECK(statuses[0].second.consecutive_failures == 0);
  }
  SUBCASE("the streak survives a broker restart") {
    h.Restart();
    h.Hello("runner-a");
    h.RunOnce(1, "runner-a", "failed");
    REQUIRE(h.alerts().size() == 1);
    CHECK(h.alerts()[0].count == 3);
  }
  SUBCASE("the third failure raises it, the fourth does not, a success clears it") {
    const std::string third = h.RunOnce(1, "runner-a", "failed");
    REQUIRE(h.alerts().size() == 1);
    CHECK(h.alerts()[0].kind == "consecutive_failures");
    CHECK(h.alerts()[0].team == 1);
    CHECK(h.alerts()[0].count == 3);
    CHECK(h.alerts()[0].run_id == third);
    CHECK(h.alerts()[0].message.find("exit 1") != std::string::npos);

    h.RunOnce(1, "runner-a", "failed");
    CHECK(h.alerts().size() == 1);

    const std::string ok = h.RunOnce(1, "runner-a", "succeeded");
    REQUIRE(h.alerts().size() == 2);
    CHECK(h.alerts()[1].kind == "recovered");
    CHECK(h.alerts()[1].count == 4);
    CHECK(h.alerts()[1].run_id == ok);

    // A success without an open alert says nothing.
    h.RunOnce(1, "runner-a", "succeeded");
    CHECK(h.alerts().size() == 2);

    // A new streak alerts again.
    for (int i = 0; i < 3; ++i) h.RunOnce(1, "runner-a", "failed");
    REQUIRE(h.alerts().size() == 3);
    CHECK(h.alerts()[2].kind == "consecutive_failures");
    CHECK(h.alerts()[2].count == 3);
  }
}

// ---- cancel -----------------------------------------------------------------------------

TEST_CASE("cancelling a run that has not started ends it at once") {
  Harness h;
  h.AddTeam(1, "queue");

  SUBCASE("queued: it never runs") {
    h.Hello("runner-a");
    const std::string r1 = h.AdmitOk(1);
    h.OneDispatch("runner-a");
    const std::string r2 = h.AdmitOk(1);
    REQUIRE(h.State(r2) == "queued");
    auto c = h.m().Cancel(r2);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    CHECK(c.value().state == schemas::RunState::kCancelled);
    h.Collect();
    CHECK(h.State(r2) == "cancelled");
    CHECK(h.EventNames(r2) == Strings{"queued", "cancelled"});
    h.Result("runner-a", r1, 1, "succeeded");
    h.Advance(1000ms);
    CHECK(h.Sent("runner-a", "dispatch").empty());
  }
  SUBCASE("accepted: the team is free and the next queued run goes") {
    const std::string r1 = h.AdmitOk(1);  // no runner: stays accepted
    const std::string r2 = h.AdmitOk(1);
    REQUIRE(h.State(r1) == "accepted");
    REQUIRE(h.State(r2) == "queued");
    auto c = h.m().Cancel(r1);
    REQUIRE(c.ok());
    CHECK(h.State(r1) == "cancelled");
    CHECK(h.Run(r1).error == "cancelled by request");
    h.Hello("runner-a");
    CHECK(h.OneDispatch("runner-a").run_id == r2);
  }
  SUBCASE("waiting to retry: it is not dispatched again") {
    h.Hello("runner-a");
    const std::string r1 = h.AdmitOk(1);
    h.OneDispatch("runner-a");
    h.Result("runner-a", r1, 1, "transient");
    const std::int64_t next = h.Run(r1).next_attempt_unix_ms;
    REQUIRE(h.m().Cancel(r1).ok());
    CHECK(h.State(r1) == "cancelled");
    h.AdvanceToWall(next + 1000);
    CHECK(h.Sent("runner-a", "dispatch").empty());
    CHECK(h.State(h.AdmitOk(1)) == "dispatched");  // team free
  }
}

TEST_CASE("cancelling a running run asks its runner and ends it on the result") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  // Two failures already: were the cancel counted as a third, it would alert.
  h.RunOnce(1, "runner-a", "failed");
  h.RunOnce(1, "runner-a", "failed");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  const std::size_t events = h.events().size();

  auto c = h.m().Cancel(id);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c.value().state == schemas::RunState::kRunning);
  CHECK(c.value().cancel_requested);
  CHECK(h.Run(id).cancel_requested);  // persisted
  h.Collect();
  const auto cancels = h.Sent("runner-a", "cancel");
  REQUIRE(cancels.size() == 1);
  CHECK(cancels[0].run_id == id);
  CHECK(cancels[0].attempt == 1);
  CHECK(h.events().size() == events);  // nothing announced yet

  SUBCASE("the killed pipeline reports a failure") { h.Result("runner-a", id, 1, "failed", "killed"); }
  SUBCASE("the killed pipeline reports a transient failure") {
    h.Result("runner-a", id, 1, "transient", "killed");
  }
  CHECK(h.State(id) == "cancelled");
  CHECK(h.EventNames(id).back() == "cancelled");
  // A cancel is not a failure: the streak stays at two.
  CHECK(h.alerts().empty());
  const auto statuses = h.store().LoadTeamStatuses().value();
  REQUIRE(statuses.size() == 1);
  CHECK(statuses[0].second.consecutive_failures == 2);
  h.Advance(60s);
  CHECK(h.Sent("runner-a", "dispatch").empty());
}

TEST_CASE("cancelling a finished or unknown run is refused") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.RunOnce(1, "runner-a", "succeeded");
  auto done = h.m().Cancel(id);
  CHECK(done.status().code() == common::Code::kRejected);
  CHECK(done.status().message().find("already ended (succeeded)") != std::string::npos);
  CHECK(h.State(id) == "succeeded");
  CHECK(h.m().Cancel("r0000099999").status().code() == common::Code::kNotFound);
}

// ---- the event log ------------------------------------------------------------------------

TEST_CASE("every published run and alert event has the next seq, with no gaps, across restarts") {
  Harness h;
  h.AddTeam(1, "queue");
  h.AddTeam(2);
  h.Hello("runner-a", 2);
  for (int i = 0; i < 3; ++i) h.RunOnce(2, "runner-a", "failed");  // and an alert
  const std::string q1 = h.AdmitOk(1);
  const std::string q2 = h.AdmitOk(1);
  h.Admit(h.Scheduled(2, h.NowMs() - 3'600'000));  // missed
  h.Started("runner-a", q1, 1);
  h.Result("runner-a", q1, 1, "transient");
  REQUIRE(h.m().Cancel(q2).ok());
  h.AdvanceToWall(h.Run(q1).next_attempt_unix_ms);
  h.Restart();
  h.Hello("runner-a", 2, {{q1, 2, ""}});
  h.Result("runner-a", q1, 2, "succeeded");
  h.ForgetRunnerMessages();
  h.RunOnce(2, "runner-a", "succeeded");  // and a recovery

  REQUIRE(h.alerts().size() == 2);
  const auto& seqs = h.seqs();
  REQUIRE(seqs.size() > 20);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    CAPTURE(i);
    CHECK(seqs[i] == i + 1);
  }
  CHECK(h.m().last_seq() == seqs.size());
  CHECK(h.store().LastSeq().value() == seqs.size());

  // What was published is byte for byte what the log replays.
  const auto logged = h.store().EventsAfter(0, 1000).value();
  std::vector<Outgoing> published;
  for (const Outgoing& o : h.published()) {
    if (o.address != "schedule.changed") published.push_back(o);
  }
  REQUIRE(logged.size() == published.size());
  for (std::size_t i = 0; i < logged.size(); ++i) {
    CAPTURE(i);
    CHECK(logged[i].seq == i + 1);
    CHECK(logged[i].topic == published[i].address);
    CHECK(std::string(logged[i].payload.begin(), logged[i].payload.end()) == published[i].payload);
  }
}

// ---- restart -------------------------------------------------------------------------------

TEST_CASE("after a restart queued and waiting runs keep their places") {
  Harness h;
  h.AddTeam(1, "queue");
  h.AddTeam(2);
  h.Hello("runner-a", 2);
  const std::string r1 = h.AdmitOk(1);
  h.Started("runner-a", r1, 1);
  const std::string r2 = h.AdmitOk(1);
  const std::string r3 = h.AdmitOk(2);
  h.Started("runner-a", r3, 1);
  h.Result("runner-a", r3, 1, "transient");
  const std::int64_t retry_at = h.Run(r3).next_attempt_unix_ms;
  REQUIRE(h.State(r2) == "queued");
  REQUIRE(h.State(r3) == "retry_wait");
  h.ForgetRunnerMessages();

  h.Restart();
  CHECK(h.m().active_runs() == 3);
  h.Hello("runner-a", 2, {{r1, 1, ""}});
  CHECK(h.State(r1) == "running");
  CHECK(h.State(r2) == "queued");
  CHECK(h.State(r3) == "retry_wait");

  // A new run for the busy queue team still queues behind r2.
  const std::string r4 = h.AdmitOk(1);
  CHECK(h.State(r4) == "queued");

  h.AdvanceToWall(retry_at - 1);
  CHECK(h.Sent("runner-a", "dispatch").empty());
  CHECK(h.State(r1) == "running");  // claimed, so never lost
  h.Advance(1ms);
  const BrokerMessage d = h.OneDispatch("runner-a");
  CHECK(d.run_id == r3);
  CHECK(d.attempt == 2);

  h.Result("runner-a", r1, 1, "succeeded");
  CHECK(h.State(r1) == "succeeded");
  CHECK(h.OneDispatch("runner-a").run_id == r2);
  CHECK(h.State(r4) == "queued");

  // New run ids continue after the old ones.
  CHECK(r4 == RunIdFor(4));
}

TEST_CASE("after a restart a run no runner claims is lost and retried") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  std::string state_before = "dispatched";
  SUBCASE("dispatched") {}
  SUBCASE("running") {
    h.Started("runner-a", id, 1);
    state_before = "running";
  }

  h.Restart();
  h.Hello("runner-b");  // runner-a never comes back
  // The claim window is heartbeat * (liveness + 1) after Load.
  h.Advance(3999ms);
  CHECK(h.State(id) == state_before);
  h.Advance(1ms);
  RunRecord r = h.Run(id);
  CHECK(r.state == schemas::RunState::kRetryWait);
  CHECK(r.error.find("no runner claimed it") != std::string::npos);

  CHECK(h.RetryDispatch(id, "runner-b").attempt == 2);
}

TEST_CASE("after a restart a result counts once its runner has said hello") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Started("runner-a", id, 1);
  h.Restart();
  // Before hello nothing it says counts; it is asked to say hello.
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "running");
  CHECK(h.Sent("runner-a", "ack").empty());
  const auto welcomes = h.Sent("runner-a", "welcome");
  REQUIRE(welcomes.size() == 1);
  CHECK(welcomes[0].key == "hello-required");
  // Its hello lists the result awaiting its ack; the resent result counts.
  schemas::RunnerMessage hello;
  hello.type = "hello";
  hello.runner_id = "runner-a";
  hello.protocol = schemas::kWorkProtocol;
  hello.slots = 1;
  hello.finished = {{id, 1, h.Token(id, 1)}};
  h.m().OnRunnerMessage("runner-a", hello);
  h.Collect();
  h.Result("runner-a", id, 1, "succeeded");
  CHECK(h.State(id) == "succeeded");
  CHECK(h.Sent("runner-a", "ack").size() == 1);
  h.Advance(10s);  // the claim deadline passes without effect
  CHECK(h.State(id) == "succeeded");
}

TEST_CASE("a runner announcing a run it should no longer hold is told to cancel it") {
  Harness h;
  h.AddTeam(1);
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(1);
  h.OneDispatch("runner-a");
  h.Result("runner-a", id, 1, "transient");  // now retry_wait
  h.Restart();
  h.Hello("runner-a", 1, {{id, 1, ""}});
  const auto cancels = h.Sent("runner-a", "cancel");
  REQUIRE(cancels.size() == 1);
  CHECK(cancels[0].run_id == id);
  CHECK(cancels[0].attempt == 1);
  CHECK(h.State(id) == "retry_wait");
}

TEST_CASE("a queued run whose predecessor ended just before a crash runs after restart") {
  // The predecessor's end and the queued run's promotion are two commits; a
  // crash between them leaves a queue with no run holding the team.
  Harness h;
  h.AddTeam(1, "queue");
  h.Hello("runner-a");
  const std::string r1 = h.AdmitOk(1);
  h.Started("runner-a", r1, 1);
  const std::string r2 = h.AdmitOk(1);
  REQUIRE(h.State(r2) == "queued");

  // Only the first commit of "r1 succeeded" makes it to disk.
  RunRecord done = h.Run(r1);
  done.state = schemas::RunState::kSucceeded;
  Change change;
  change.run = done;
  REQUIRE(h.store().Commit(change).ok());

  h.Restart();
  h.Hello("runner-a");
  h.Advance(1s);
  CHECK(h.State(r2) == "dispatched");
  CHECK(h.OneDispatch("runner-a").run_id == r2);
}

}  // namespace
}  // namespace broker

namespace broker {
namespace {

TEST_CASE("a team's own retry policy overrides the configured one") {
  Harness h;  // configured: retry_on transient, backoff 10 s .. 40 s
  schemas::TeamRecord team;
  team.id = 60;
  team.retry_on = "any";
  team.backoff_initial_s = 100;
  team.backoff_max_s = 100;
  team.max_attempts = 2;
  REQUIRE(h.m().PutTeam(team).ok());
  h.Collect();
  h.Hello("runner-a");
  const std::string id = h.AdmitOk(60);
  const BrokerMessage d = h.OneDispatch("runner-a");
  h.Started("runner-a", id, d.attempt);
  h.Result("runner-a", id, d.attempt, "failed", "exit 1");  // not transient: this team retries anyway
  const auto run = h.Run(id);
  REQUIRE(run.state == schemas::RunState::kRetryWait);
  const auto delay = run.next_attempt_unix_ms - h.NowMs();
  CHECK(delay >= 50'000);   // half of the team's 100 s, never the default's 10 s
  CHECK(delay <= 100'000);
}

}  // namespace
}  // namespace broker
