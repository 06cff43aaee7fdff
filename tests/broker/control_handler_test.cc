// ControlHandler: every op of the control socket, bytes in and bytes out,
// over a RunManager on a MemoryStore. A refused request is a reply with
// ok=false, the reason and a code from schemas::error_code, never a throw;
// a refused request changes nothing.
#include "broker/control_handler.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "broker/memory_store.h"
#include "common/team.h"
#include "schemas/codec.h"
#include "schemas/topics.h"
#include "tests/broker/harness.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

using namespace testing_support;
using schemas::ControlReply;
using schemas::ControlRequest;
namespace error_code = schemas::error_code;

ControlRequest Req(std::string_view op) {
  ControlRequest request;
  request.op = std::string(op);
  return request;
}

ControlRequest Trigger(std::uint32_t team, const std::string& key = "") {
  ControlRequest request = Req(schemas::op::kTrigger);
  request.team = team;
  request.key = key;
  request.requested_by = "alice";
  return request;
}

// A broker's control side: the handler over a manager on a MemoryStore,
// with team 1 defined. Ask() runs one request as the broker loop does:
// the handler answers, then the turn's group is written.
class Control {
 public:
  explicit Control(int max_backfill_days = 366)
      : h_(store_), handler_(h_.m(), store_, h_.teams(), max_backfill_days) {
    h_.AddTeam(1);
  }

  ControlReply Ask(const ControlRequest& request) { return AskBytes(schemas::Encode(request)); }
  // As the key `caller` (CURVE on).
  ControlReply AskAs(const ControlRequest& request, const common::KeyGrant& caller) {
    return AskBytes(schemas::Encode(request), caller);
  }
  ControlReply AskBytes(std::string_view bytes,
                        const std::optional<common::KeyGrant>& caller = std::nullopt) {
    const std::string reply_bytes = handler_.Handle(bytes, caller);
    h_.Collect();
    auto reply = schemas::DecodeControlReply(reply_bytes);
    REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
    if (!reply.value().ok) {
      // Every refusal names a code a client can act on.
      CHECK(schemas::IsOneOf(reply.value().code, error_code::kAll));
      CHECK_FALSE(reply.value().error.empty());
    }
    return reply.value();
  }
  // Triggers a manual run that must be accepted; returns its id.
  std::string TriggerOk(std::uint32_t team, const std::string& key = "") {
    const ControlReply reply = Ask(Trigger(team, key));
    REQUIRE_MESSAGE(reply.ok, reply.error);
    return reply.run.run_id;
  }

  Harness& h() { return h_; }
  MemoryStore& store() { return store_; }
  ControlHandler& handler() { return handler_; }

 private:
  MemoryStore store_;
  Harness h_;
  ControlHandler handler_;
};

// ---- frames that are not requests ----

TEST_CASE("a frame that is not a control request gets a rejected reply, not a crash") {
  Control c;
  SUBCASE("not msgpack") {
    const ControlReply reply = c.AskBytes("\xc1\xc1 definitely not msgpack");
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
  }
  SUBCASE("empty frame") {
    const ControlReply reply = c.AskBytes("");
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
  }
  SUBCASE("a map without op") {
    const ControlReply reply = c.AskBytes(schemas::Encode(std::map<std::string, int>{{"v", 1}}));
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK(reply.error.find("\"op\"") != std::string::npos);
  }
  SUBCASE("a request from a newer schema") {
    ControlRequest request = Req(schemas::op::kPing);
    request.v = schemas::kVersion + 1;
    const ControlReply reply = c.Ask(request);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
  }
  SUBCASE("a trigger with an unreadable pdate") {
    ControlRequest request = Trigger(1);
    request.pdate = "2026-13-45";
    const ControlReply reply = c.Ask(request);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK(c.h().m().active_runs() == 0);
  }
}

TEST_CASE("an unknown op is refused as invalid and names the op") {
  Control c;
  const ControlReply reply = c.Ask(Req("runs.delete_all"));
  CHECK_FALSE(reply.ok);
  CHECK(reply.code == error_code::kInvalid);
  CHECK(reply.error == "unknown op \"runs.delete_all\"");
}

// ---- ping ----

TEST_CASE("ping answers with the broker's last event seq") {
  Control c;
  const ControlReply before = c.Ask(Req(schemas::op::kPing));
  CHECK(before.ok);
  CHECK(before.last_seq == c.h().m().last_seq());
  c.TriggerOk(1);
  const ControlReply after = c.Ask(Req(schemas::op::kPing));
  CHECK(after.ok);
  CHECK(after.last_seq > before.last_seq);
  CHECK(after.last_seq == c.h().m().last_seq());
}

// ---- trigger ----

TEST_CASE("trigger admits a manual run with what the request said") {
  Control c;
  ControlRequest request = Trigger(1, "rerun-2026-03-03");
  request.pdate = "2026-03-03";
  const ControlReply reply = c.Ask(request);
  REQUIRE(reply.ok);
  CHECK_FALSE(reply.duplicate);
  CHECK_FALSE(reply.run.run_id.empty());
  CHECK(reply.run.team == 1);
  CHECK(reply.run.kind == schemas::kind::kManual);
  CHECK(reply.run.key == "rerun-2026-03-03");
  CHECK(reply.run.pdate == "2026-03-03");
  CHECK(reply.run.requested_by == "alice");
  CHECK(reply.run.state == schemas::RunState::kAccepted);
  CHECK(c.h().State(reply.run.run_id) == "accepted");  // written, not only answered

  SUBCASE("the same key again is the same run, flagged duplicate") {
    const ControlReply again = c.Ask(request);
    REQUIRE(again.ok);
    CHECK(again.duplicate);
    CHECK(again.run.run_id == reply.run.run_id);
    CHECK(c.h().m().counters().duplicates == 1);
  }
  SUBCASE("without a key every trigger is a new run") {
    const std::string a = c.TriggerOk(1);
    const std::string b = c.TriggerOk(1);
    CHECK(a != b);
    CHECK(a != reply.run.run_id);
  }
}

TEST_CASE("trigger refuses a bad key and an unknown team, and records nothing") {
  Control c;
  const std::size_t writes = c.store().writes();
  const std::uint64_t seq = c.h().m().last_seq();
  SUBCASE("a key with a space") {
    const ControlReply reply = c.Ask(Trigger(1, "two words"));
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK(reply.error.find("printable ASCII") != std::string::npos);
  }
  SUBCASE("a key that is too long") {
    const ControlReply reply = c.Ask(Trigger(1, std::string(201, 'k')));
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
  }
  SUBCASE("an unknown team") {
    const ControlReply reply = c.Ask(Trigger(42, "k"));
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kNotFound);
    CHECK(reply.error.find("team 42") != std::string::npos);
  }
  CHECK(c.h().m().active_runs() == 0);
  CHECK(c.h().m().last_seq() == seq);
  CHECK(c.store().writes() == writes);
}

// ---- runs.list and run.get ----

TEST_CASE("runs.list lists newest first, all teams or one, within the limit") {
  Control c;
  c.h().AddTeam(2);
  const std::string a = c.TriggerOk(1);
  const std::string b = c.TriggerOk(2);
  const std::string d = c.TriggerOk(1);

  ControlRequest all = Req(schemas::op::kRunsList);
  ControlReply reply = c.Ask(all);
  REQUIRE(reply.ok);
  REQUIRE(reply.runs.size() == 3);
  CHECK(reply.runs[0].run_id == d);
  CHECK(reply.runs[1].run_id == b);
  CHECK(reply.runs[2].run_id == a);

  ControlRequest team2 = Req(schemas::op::kRunsList);
  team2.all_teams = false;
  team2.team = 2;
  reply = c.Ask(team2);
  REQUIRE(reply.ok);
  REQUIRE(reply.runs.size() == 1);
  CHECK(reply.runs[0].run_id == b);

  ControlRequest team1 = team2;
  team1.team = 1;
  team1.limit = 1;
  reply = c.Ask(team1);
  REQUIRE(reply.ok);
  REQUIRE(reply.runs.size() == 1);
  CHECK(reply.runs[0].run_id == d);

  ControlRequest nobody = team2;
  nobody.team = 77;  // not a team: an empty list, not an error
  reply = c.Ask(nobody);
  CHECK(reply.ok);
  CHECK(reply.runs.empty());
}

TEST_CASE("runs.list and events.since without a limit return the default number") {
  Control c;
  const std::size_t n = kDefaultListLimit + 5;
  for (std::size_t i = 0; i < n; ++i) c.TriggerOk(1);

  ControlRequest runs = Req(schemas::op::kRunsList);
  CHECK(c.Ask(runs).runs.size() == kDefaultListLimit);
  runs.limit = n + 10;
  CHECK(c.Ask(runs).runs.size() == n);

  ControlRequest events = Req(schemas::op::kEventsSince);
  CHECK(c.Ask(events).events.size() == kDefaultListLimit);
}

TEST_CASE("run.get returns the stored run, or not_found") {
  Control c;
  const std::string id = c.TriggerOk(1, "some-key");
  ControlRequest get = Req(schemas::op::kRunGet);
  get.run_id = id;
  ControlReply reply = c.Ask(get);
  REQUIRE(reply.ok);
  CHECK(reply.run.run_id == id);
  CHECK(reply.run.key == "some-key");

  get.run_id = "r9999999999";
  reply = c.Ask(get);
  CHECK_FALSE(reply.ok);
  CHECK(reply.code == error_code::kNotFound);
  CHECK(reply.run.run_id.empty());
}

TEST_CASE("a store that cannot be read refuses listings with io_error") {
  Control c;
  const std::string id = c.TriggerOk(1);
  c.store().faults().fail_reads = true;
  ControlRequest get = Req(schemas::op::kRunGet);
  get.run_id = id;
  for (const ControlRequest& request :
       {Req(schemas::op::kRunsList), get, Req(schemas::op::kEventsSince)}) {
    CAPTURE(request.op);
    const ControlReply reply = c.Ask(request);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kIoError);
    CHECK(reply.error.find("read failed") != std::string::npos);
  }
  c.store().faults().fail_reads = false;
  CHECK(c.Ask(get).ok);  // the refusal was the request's, not the broker's
  CHECK(c.h().m().failure().ok());
}

// ---- teams ----

TEST_CASE("teams.list returns every team with defaults filled in") {
  Control c;
  const ControlReply reply = c.Ask(Req(schemas::op::kTeamsList));
  REQUIRE(reply.ok);
  CHECK(reply.last_seq == c.h().m().last_seq());
  std::vector<std::uint32_t> ids;
  for (const auto& t : reply.teams) ids.push_back(t.id);
  CHECK(ids == std::vector<std::uint32_t>{common::kGeneralTeam, 1});
  const TeamDefaults defaults;
  CHECK(reply.teams[1].run_time == defaults.run_time);
  CHECK(reply.teams[1].timezone == defaults.timezone);
  CHECK(reply.teams[1].overlap == defaults.overlap);
}

TEST_CASE("team.put stores the team and answers with it resolved") {
  Control c;
  ControlRequest put = Req(schemas::op::kTeamPut);
  put.team_record.id = 5;
  put.team_record.name = "five";
  put.team_record.run_time = "03:30";
  put.team_record.timezone = "Europe/London";
  ControlReply reply = c.Ask(put);
  REQUIRE(reply.ok);
  REQUIRE(reply.teams.size() == 1);
  CHECK(reply.teams[0].id == 5);
  CHECK(reply.teams[0].name == "five");
  CHECK(reply.teams[0].run_time == "03:30");
  CHECK(reply.teams[0].overlap == TeamDefaults().overlap);  // the default filled in
  REQUIRE(c.h().teams().Find(5) != nullptr);
  CHECK(c.h().changes().back().team == 5);  // the ticker hears of it

  // Putting it again replaces it.
  put.team_record.run_time = "04:00";
  reply = c.Ask(put);
  REQUIRE(reply.ok);
  CHECK(reply.teams[0].run_time == "04:00");
  CHECK(c.h().teams().Find(5)->run_time == "04:00");
}

TEST_CASE("team.put refuses an out-of-range id and an invalid record") {
  Control c;
  ControlRequest put = Req(schemas::op::kTeamPut);
  const std::size_t changes = c.h().changes().size();
  SUBCASE("id out of range") {
    put.team_record.id = common::kMaxTeamId + 1;
    const ControlReply reply = c.Ask(put);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kInvalid);
    CHECK(reply.error.find("out of range") != std::string::npos);
    CHECK(c.h().teams().Find(common::kMaxTeamId + 1) == nullptr);
  }
  SUBCASE("bad overlap") {
    put.team_record.id = 6;
    put.team_record.overlap = "sometimes";
    const ControlReply reply = c.Ask(put);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kInvalid);
    CHECK(reply.error.find("\"sometimes\"") != std::string::npos);
    CHECK(c.h().teams().Find(6) == nullptr);
  }
  CHECK(c.h().changes().size() == changes);  // nothing announced
}

TEST_CASE("team.remove removes a team; the general team and unknown teams are refused") {
  Control c;
  ControlRequest remove = Req(schemas::op::kTeamRemove);
  remove.team = 1;
  ControlReply reply = c.Ask(remove);
  CHECK(reply.ok);
  CHECK(c.h().teams().Find(1) == nullptr);
  CHECK(c.Ask(Req(schemas::op::kTeamsList)).teams.size() == 1);  // only the general team

  reply = c.Ask(remove);  // already gone
  CHECK_FALSE(reply.ok);
  CHECK(reply.code == error_code::kNotFound);

  remove.team = common::kGeneralTeam;
  reply = c.Ask(remove);
  CHECK_FALSE(reply.ok);
  CHECK(reply.code == error_code::kRejected);
  CHECK(c.h().teams().Find(common::kGeneralTeam) != nullptr);
}

// ---- events.since ----

TEST_CASE("events.since replays the event log after a seq, in order, within the limit") {
  Control c;
  const std::uint64_t start = c.h().m().last_seq();
  const std::string id = c.TriggerOk(1);
  c.TriggerOk(1);
  c.TriggerOk(1);
  const std::uint64_t last = c.h().m().last_seq();
  REQUIRE(last >= start + 3);

  ControlRequest since = Req(schemas::op::kEventsSince);
  since.since_seq = start;
  ControlReply reply = c.Ask(since);
  REQUIRE(reply.ok);
  CHECK(reply.last_seq == last);
  REQUIRE(reply.events.size() == last - start);
  for (std::size_t i = 0; i < reply.events.size(); ++i) CHECK(reply.events[i].seq == start + 1 + i);
  CHECK(reply.events[0].topic == "run.accepted");
  auto first = schemas::DecodeRunEvent(
      std::string_view(reply.events[0].payload.data(), reply.events[0].payload.size()));
  REQUIRE(first.ok());
  CHECK(first.value().run.run_id == id);

  since.limit = 2;
  reply = c.Ask(since);
  REQUIRE(reply.events.size() == 2);
  CHECK(reply.events[1].seq == start + 2);

  since.since_seq = last;  // caught up
  since.limit = 0;
  reply = c.Ask(since);
  CHECK(reply.ok);
  CHECK(reply.events.empty());
  CHECK(reply.last_seq == last);
}

// ---- backfill ----

TEST_CASE("backfill admits one run per date and refuses bad ranges") {
  Control c(/*max_backfill_days=*/5);
  ControlRequest backfill = Req(schemas::op::kBackfill);
  backfill.team = 1;
  backfill.from_date = "2026-03-01";
  backfill.to_date = "2026-03-03";
  backfill.requested_by = "bob";
  ControlReply reply = c.Ask(backfill);
  REQUIRE_MESSAGE(reply.ok, reply.error);
  REQUIRE(reply.runs.size() == 3);
  CHECK(reply.runs[0].local_date == "2026-03-01");
  CHECK(reply.runs[2].local_date == "2026-03-03");
  for (const auto& run : reply.runs) {
    CHECK(run.kind == schemas::kind::kBackfill);
    CHECK(run.requested_by == "bob");
  }
  // The same range again is the same runs.
  ControlReply again = c.Ask(backfill);
  REQUIRE(again.ok);
  REQUIRE(again.runs.size() == 3);
  CHECK(again.runs[1].run_id == reply.runs[1].run_id);

  const std::size_t active = c.h().m().active_runs();
  SUBCASE("backwards") {
    backfill.from_date = "2026-03-04";
    backfill.to_date = "2026-03-01";
    reply = c.Ask(backfill);
    CHECK(reply.code == error_code::kInvalid);
    CHECK(reply.error.find("backwards") != std::string::npos);
  }
  SUBCASE("longer than the handler's limit") {
    backfill.to_date = "2026-03-06";  // 6 days, limit 5
    reply = c.Ask(backfill);
    CHECK(reply.code == error_code::kInvalid);
    CHECK(reply.error.find("the limit is 5") != std::string::npos);
  }
  SUBCASE("not a date") {
    backfill.from_date = "March 1st";
    reply = c.Ask(backfill);
    CHECK_FALSE(reply.ok);
  }
  SUBCASE("unknown team") {
    backfill.team = 9;
    reply = c.Ask(backfill);
    CHECK(reply.code == error_code::kNotFound);
  }
  CHECK_FALSE(reply.ok);
  CHECK(reply.runs.empty());
  CHECK(c.h().m().active_runs() == active);
}

// ---- stats ----

TEST_CASE("stats reports the manager's figures and those of every stats source") {
  Control c;
  c.h().Hello("runner-a", 2);
  c.TriggerOk(1, "k");
  c.Ask(Trigger(1, "k"));  // a duplicate
  ControlReply reply = c.Ask(Req(schemas::op::kStats));
  REQUIRE(reply.ok);
  CHECK(reply.stats.at("active_runs") == 1);
  CHECK(reply.stats.at("runners") == 1);
  CHECK(reply.stats.at("duplicates") == 1);
  CHECK(reply.stats.at("stale_results") == 0);
  CHECK(reply.stats.at("store_errors") == 0);
  CHECK(reply.stats.at("refused_hellos") == 0);
  CHECK(reply.stats.at("last_seq") == static_cast<std::int64_t>(c.h().m().last_seq()));
  CHECK(reply.stats.count("bad_frames") == 0);

  int calls = 0;
  c.handler().AddStatsSource([&calls](std::map<std::string, std::int64_t>& stats) {
    ++calls;
    stats["bad_frames"] = 7;
  });
  c.handler().AddStatsSource([](std::map<std::string, std::int64_t>& stats) {
    stats["forwarded"] = stats["bad_frames"] + 1;  // sources run in the order added
  });
  reply = c.Ask(Req(schemas::op::kStats));
  CHECK(calls == 1);
  CHECK(reply.stats.at("bad_frames") == 7);
  CHECK(reply.stats.at("forwarded") == 8);
  CHECK(reply.stats.at("active_runs") == 1);

  c.Ask(Req(schemas::op::kPing));
  CHECK(calls == 1);  // only stats asks the sources
}

// ---- cancel ----

TEST_CASE("cancel ends a waiting run, asks the runner to stop one that is out, and refuses the rest") {
  Control c;
  ControlRequest cancel = Req(schemas::op::kCancel);

  SUBCASE("a run no runner has: cancelled at once") {
    cancel.run_id = c.TriggerOk(1);
    const ControlReply reply = c.Ask(cancel);
    REQUIRE(reply.ok);
    CHECK(reply.run.state == schemas::RunState::kCancelled);
    CHECK(c.h().State(cancel.run_id) == "cancelled");

    const ControlReply again = c.Ask(cancel);  // already ended
    CHECK_FALSE(again.ok);
    CHECK(again.code == error_code::kRejected);
    CHECK(again.error.find("already ended (cancelled)") != std::string::npos);
  }
  SUBCASE("a run out with a runner: the runner is told, the run waits for its result") {
    c.h().Hello("runner-a");
    cancel.run_id = c.TriggerOk(1);
    REQUIRE(c.h().OneDispatch("runner-a").run_id == cancel.run_id);
    const ControlReply reply = c.Ask(cancel);
    REQUIRE(reply.ok);
    CHECK(reply.run.cancel_requested);
    CHECK(reply.run.state == schemas::RunState::kDispatched);
    const auto told = c.h().Sent("runner-a", "cancel");
    REQUIRE(told.size() == 1);
    CHECK(told[0].run_id == cancel.run_id);
  }
  SUBCASE("an unknown run") {
    cancel.run_id = "r0000000404";
    const ControlReply reply = c.Ask(cancel);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kNotFound);
  }
}

// ---- who may do what ----

TEST_CASE("a key bound to team 1 cannot trigger, cancel, change or remove team 2, and may do all of it for team 1") {
  Control c;
  c.h().AddTeam(2);
  testing::TempDir dir;
  AuditLog audit(dir.Sub("audit.jsonl"));
  c.handler().SetAuditLog(&audit);
  const common::KeyGrant alice{common::KeyRole::kClient, "", "alice", {1}};
  const std::string team2_run = c.TriggerOk(2);

  auto refused = [&](const ControlRequest& request) {
    CAPTURE(request.op);
    const ControlReply reply = c.AskAs(request, alice);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK(reply.error.find("key alice may not") != std::string::npos);
  };
  refused(Trigger(2));
  ControlRequest backfill = Req(schemas::op::kBackfill);
  backfill.team = 2;
  backfill.from_date = backfill.to_date = "2026-01-05";
  refused(backfill);
  ControlRequest cancel = Req(schemas::op::kCancel);
  cancel.run_id = team2_run;
  refused(cancel);
  ControlRequest put = Req(schemas::op::kTeamPut);
  put.team_record.id = 2;
  put.team_record.paused = true;
  refused(put);
  ControlRequest remove = Req(schemas::op::kTeamRemove);
  remove.team = 2;
  refused(remove);
  const ControlReply backup = c.AskAs(Req(schemas::op::kBackupCreate), alice);
  CHECK_FALSE(backup.ok);
  CHECK(backup.error.find("needs a key for every team") != std::string::npos);
  // Nothing changed for team 2.
  CHECK(c.h().Run(team2_run).state != schemas::RunState::kCancelled);
  CHECK_FALSE(c.h().teams().Find(2)->paused);

  // Team 1 is alice's.
  ControlRequest mine = Trigger(1);
  mine.requested_by = "someone-else";  // a claim, not an identity
  const ControlReply ran = c.AskAs(mine, alice);
  REQUIRE(ran.ok);
  CHECK(ran.run.requested_by == "alice");
  put.team_record.id = 1;
  CHECK(c.AskAs(put, alice).ok);

  // Every change and every refusal is in the audit log, with who asked.
  const std::string log = dir.ReadFile("audit.jsonl");
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = log.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(nlohmann::json::parse(log.substr(start, nl - start)));
  }
  // The unauthenticated trigger of team 2, six refusals, alice's trigger and put.
  REQUIRE(lines.size() == 9);
  CHECK(lines[0]["who"] == "unauthenticated (says alice)");
  CHECK(lines[0]["ok"] == true);
  CHECK(lines[1]["who"] == "alice");
  CHECK(lines[1]["op"] == "trigger");
  CHECK(lines[1]["team"] == 2);
  CHECK(lines[1]["ok"] == false);
  CHECK(lines[3]["op"] == "cancel");
  CHECK(lines[3]["run_id"] == team2_run);
  CHECK(lines[7]["op"] == "trigger");
  CHECK(lines[7]["ok"] == true);
  CHECK(lines[7]["run_id"] == ran.run.run_id);
  CHECK(lines[8]["op"] == "team.put");
}

TEST_CASE("a key for every team may do everything, and its name is the run's requested_by") {
  Control c;
  const common::KeyGrant ops{common::KeyRole::kClient, "", "ops", {}};
  const ControlReply reply = c.AskAs(Trigger(1), ops);
  REQUIRE(reply.ok);
  CHECK(reply.run.requested_by == "ops");
  // An unnamed key of the deprecated list keeps what the request says.
  const common::KeyGrant legacy{common::KeyRole::kAny, ""};
  const ControlReply old = c.AskAs(Trigger(1, "legacy-1"), legacy);
  REQUIRE(old.ok);
  CHECK(old.run.requested_by == "alice");
}

TEST_CASE("a key bound to team 1 reads only team 1: its runs, its settings, never the whole log") {
  Control c;
  c.h().AddTeam(2);
  c.h().AddTeam(3);
  const common::KeyGrant alice{common::KeyRole::kClient, "", "alice", {1, 3}};
  const std::string one = c.TriggerOk(1);
  const std::string two = c.TriggerOk(2);
  const std::string three = c.TriggerOk(3);
  const std::string general = c.TriggerOk(0);

  auto refused = [&](const ControlRequest& request, std::string_view says) {
    CAPTURE(request.op);
    const ControlReply reply = c.AskAs(request, alice);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK_MESSAGE(reply.error.find(says) != std::string::npos, reply.error);
    CHECK(reply.runs.empty());
    CHECK(reply.run.run_id.empty());
    CHECK(reply.events.empty());
  };
  ControlRequest get = Req(schemas::op::kRunGet);
  get.run_id = two;
  refused(get, "key alice may not read run.get for team 2 (it may act only for team 1, team 3)");
  get.run_id = general;
  refused(get, "may not read run.get for general");
  ControlRequest list_two = Req(schemas::op::kRunsList);
  list_two.all_teams = false;
  list_two.team = 2;
  refused(list_two, "may not read runs.list for team 2");
  refused(Req(schemas::op::kEventsSince), "events.since needs a key for every team");
  refused(Req(schemas::op::kBackupList), "backup.list needs a key for every team");

  // Its own teams, one at a time and as "every team": newest first, cut to the limit.
  get.run_id = three;
  CHECK(c.AskAs(get, alice).run.run_id == three);
  ControlRequest all = Req(schemas::op::kRunsList);
  std::vector<std::string> ids;
  for (const auto& r : c.AskAs(all, alice).runs) ids.push_back(r.run_id);
  CHECK(ids == std::vector<std::string>{three, one});
  all.limit = 1;
  REQUIRE(c.AskAs(all, alice).runs.size() == 1);
  CHECK(c.AskAs(all, alice).runs[0].run_id == three);
  std::vector<std::uint32_t> teams;
  for (const auto& t : c.AskAs(Req(schemas::op::kTeamsList), alice).teams) teams.push_back(t.id);
  CHECK(teams == std::vector<std::uint32_t>{1, 3});
  // Figures about no team stay open.
  CHECK(c.AskAs(Req(schemas::op::kStats), alice).ok);
  CHECK(c.AskAs(Req(schemas::op::kPing), alice).ok);

  // A key for every team sees everything.
  const common::KeyGrant ops{common::KeyRole::kClient, "", "ops", {}};
  all.limit = 0;
  CHECK(c.AskAs(all, ops).runs.size() == 4);
  CHECK(c.AskAs(Req(schemas::op::kTeamsList), ops).teams.size() >= 3);
  CHECK(c.AskAs(Req(schemas::op::kEventsSince), ops).ok);
}

TEST_CASE("teams.list carries each team's streak and last success; stats lists the runners with what they hold") {
  using namespace std::chrono_literals;
  Control c;
  c.h().AddTeam(2);
  c.h().Hello("runner-a", 2);
  const std::int64_t success_at = c.h().NowMs();
  c.h().RunOnce(1, "runner-a", "succeeded");
  c.h().Advance(1000ms);
  c.h().RunOnce(2, "runner-a", "failed");
  c.h().RunOnce(2, "runner-a", "failed");
  const ControlReply teams = c.Ask(Req(schemas::op::kTeamsList));
  REQUIRE(teams.tallies.size() == teams.teams.size());
  int seen = 0;
  for (std::size_t i = 0; i < teams.teams.size(); ++i) {
    const schemas::TeamTally& tally = teams.tallies[i];
    CHECK(tally.team == teams.teams[i].id);
    if (tally.team == 1) {
      ++seen;
      CHECK(tally.consecutive_failures == 0);
      CHECK(tally.last_success_unix_ms == success_at);
    }
    if (tally.team == 2) {
      ++seen;
      CHECK(tally.consecutive_failures == 2);
      CHECK(tally.last_success_unix_ms == 0);
    }
  }
  CHECK(seen == 2);

  // A run out with the runner, which then goes quiet for 1.5 s.
  const std::string out = c.h().AdmitOk(1);
  const schemas::BrokerMessage d = c.h().OneDispatch("runner-a");
  c.h().Started("runner-a", out, d.attempt);
  c.h().Collect();
  c.h().clock().Advance(1500ms);
  const ControlReply stats = c.Ask(Req(schemas::op::kStats));
  REQUIRE(stats.runners.size() == 1);
  CHECK(stats.runners[0].runner_id == "runner-a");
  CHECK(stats.runners[0].slots == 2);
  CHECK(stats.runners[0].runs == std::vector<std::string>{out});
  CHECK(stats.runners[0].last_seen_ms_ago == 1500);
  c.h().Bye("runner-a");
  CHECK(c.Ask(Req(schemas::op::kStats)).runners.empty());
}

TEST_CASE("a deferred op (run.log) is authorized first, then left to the loop under its ticket") {
  Control c;
  c.h().AddTeam(2);
  const std::string one = c.TriggerOk(1);
  const std::string two = c.TriggerOk(2);
  std::vector<std::pair<std::string, std::uint64_t>> asked;  // run, ticket
  c.handler().AddDeferredOp(schemas::op::kRunLog,
                            [&](const ControlRequest& r, std::uint64_t ticket) -> std::optional<ControlReply> {
                              asked.emplace_back(r.run_id, ticket);
                              if (r.offset == 0) return std::nullopt;
                              ControlReply now;
                              now.ok = false;
                              now.code = "not_found";
                              now.error = "answered at once";
                              return now;
                            });
  const common::KeyGrant alice{common::KeyRole::kClient, "", "alice", {1}};
  ControlRequest log = Req(schemas::op::kRunLog);

  log.run_id = two;  // another team's run: refused before anyone is asked
  auto refused = c.handler().HandleOrDefer(schemas::Encode(log), alice, 41);
  REQUIRE(refused.has_value());
  auto reply = schemas::DecodeControlReply(*refused);
  REQUIRE(reply.ok());
  CHECK(reply.value().code == "rejected");
  CHECK(reply.value().error.find("may not read run.log for team 2") != std::string::npos);
  CHECK(asked.empty());

  log.run_id = one;  // its own: taken, to be answered under ticket 42
  CHECK_FALSE(c.handler().HandleOrDefer(schemas::Encode(log), alice, 42).has_value());
  REQUIRE(asked.size() == 1);
  CHECK(asked[0] == std::make_pair(one, std::uint64_t{42}));

  log.offset = 5;  // one the op answers at once comes back as bytes
  auto now = c.handler().HandleOrDefer(schemas::Encode(log), alice, 43);
  REQUIRE(now.has_value());
  CHECK(schemas::DecodeControlReply(*now).value().error == "answered at once");

  // Without a loop to answer later (Handle), it is refused, not dropped.
  CHECK(c.Ask(log).error == "this op is answered only by the broker's control socket");
  CHECK(asked.size() == 2);
}

}  // namespace
}  // namespace broker
