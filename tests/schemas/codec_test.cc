// The codec: every message survives a round trip, and bad bytes come back as
// a Status with a reason, never as an exception.
#include "schemas/codec.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "schemas/json.h"
#include "schemas/notifier_progress.h"
#include "schemas/topics.h"

namespace schemas {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// A msgpack map built key by key, so a test can drop a key, give it the wrong
// type or add what our structs could never encode.
class MapFrame {
 public:
  template <typename T>
  MapFrame& Set(const std::string& key, T value) {
    return SetRaw(key, [value = std::move(value)](Packer& p) { p.pack(value); });
  }
  MapFrame& SetRaw(const std::string& key, std::function<void(Packer&)> write) {
    for (auto& [k, w] : entries_) {
      if (k == key) {
        w = std::move(write);
        return *this;
      }
    }
    entries_.emplace_back(key, std::move(write));
    return *this;
  }
  MapFrame& Erase(const std::string& key) {
    std::erase_if(entries_, [&](const auto& e) { return e.first == key; });
    return *this;
  }
  std::string Bytes() const {
    msgpack::sbuffer buffer;
    Packer p(buffer);
    p.pack_map(static_cast<std::uint32_t>(entries_.size()));
    for (const auto& [k, w] : entries_) {
      p.pack(k);
      w(p);
    }
    return std::string(buffer.data(), buffer.size());
  }

 private:
  std::vector<std::pair<std::string, std::function<void(Packer&)>>> entries_;
};

MapFrame ScheduledDue() {
  MapFrame f;
  f.Set("v", 1)
      .Set("team", 7)
      .Set("kind", std::string("scheduled"))
      .Set("key", std::string("sched:7:2026-03-08T02:00"))
      .Set("fire_unix_ms", std::int64_t{1772935200000})
      .Set("local_date", std::string("2026-03-08"));
  return f;
}

MapFrame Runner(const std::string& type) {
  MapFrame f;
  f.Set("v", 1).Set("type", type).Set("runner_id", std::string("runner-a"));
  return f;
}

// `levels` containers nested inside each other, the innermost empty.
std::function<void(Packer&)> Nested(int levels) {
  return [levels](Packer& p) {
    for (int i = 0; i < levels - 1; ++i) p.pack_array(1);
    p.pack_array(0);
  };
}

void CheckRejected(const common::Status& s, const std::string& reason_part) {
  CHECK_FALSE(s.ok());
  CHECK(s.code() == common::Code::kRejected);
  CHECK_MESSAGE(s.message().find(reason_part) != std::string::npos,
                "reason \"" << s.message() << "\" lacks \"" << reason_part << "\"");
}

// ---- fully populated messages ----------------------------------------------

RunRecord FullRun() {
  RunRecord r;
  r.run_id = "r0000000042";
  r.key = "sched:7:2026-03-08T02:00";
  r.team = 7;
  r.kind = "scheduled";
  r.state = schemas::RunState::kRunning;
  r.pdate = "2026-03-10";
  r.local_date = "2026-03-08";
  r.fire_unix_ms = 1772935200000;
  r.accepted_unix_ms = 1772935200100;
  r.started_unix_ms = 1772935200200;
  r.finished_unix_ms = 1772935200300;
  r.next_attempt_unix_ms = 1772935200400;
  r.attempt = 2;
  r.max_attempts = 5;
  r.runner_id = "runner-a";
  r.exit_code = 3;
  r.error = "boom";
  r.total_loans = 1234;
  r.exceptions_count = 17;
  r.metrics = {{"balance_sum", 1.5e9}, {"wac", 6.25}};
  r.log_path = "/var/logs/r0000000042.2.log";
  r.cancel_requested = true;
  r.requested_by = "alice";
  return r;
}

TeamRecord FullTeam() {
  TeamRecord t;
  t.id = 12;
  t.name = "Sales West";
  t.run_time = "03:30";
  t.timezone = "Europe/Berlin";
  t.paused = true;
  t.overlap = "queue";
  t.command = {"/usr/bin/env", "pipeline", "--fast"};
  t.max_attempts = 4;
  t.created_unix_ms = 1700000000000;
  t.schedule_since_unix_ms = 1700000001000;
  return t;
}

DueEvent FullDue() {
  DueEvent e;
  e.key = "sched:7:2026-03-08T02:00";
  e.team = 7;
  e.kind = "scheduled";
  e.fire_unix_ms = 1772935200000;
  e.local_date = "2026-03-08";
  e.pdate = "2026-03-10";
  e.requested_by = "ticker";
  return e;
}

RunnerMessage FullRunnerMessage() {
  RunnerMessage m;
  m.type = "result";
  m.runner_id = "runner-a";
  m.slots = 4;
  m.holding = {{"r0000000001", 1, "00112233445566778899aabbccddeeff"}, {"r0000000002", 3, ""}};
  m.run_id = "r0000000002";
  m.attempt = 3;
  m.outcome = "transient";
  m.exit_code = 75;
  m.error = "input share offline";
  m.total_loans = 10;
  m.exceptions_count = 2;
  m.metrics = {{"seconds", 12.5}};
  m.log_path = "/tmp/log";
  return m;
}

BrokerMessage FullBrokerMessage() {
  BrokerMessage m;
  m.type = "dispatch";
  m.run_id = "r0000000002";
  m.attempt = 3;
  m.team = 7;
  m.pdate = "2026-03-10";
  m.key = "sched:7:2026-03-08T02:00";
  m.command = {"daybreak-pipeline", "--team", "7"};
  m.timeout_s = 600;
  m.lease_ms = 3000;
  m.lease_grace_ms = 2000;
  return m;
}

ControlRequest FullControlRequest() {
  ControlRequest r;
  r.op = "team.put";
  r.team = 7;
  r.all_teams = false;
  r.pdate = "2026-03-10";
  r.key = "manual-1";
  r.run_id = "r0000000002";
  r.limit = 20;
  r.since_seq = 99;
  r.team_record = FullTeam();
  r.requested_by = "bob";
  return r;
}

LoggedEvent FullLoggedEvent() {
  LoggedEvent e;
  e.seq = 77;
  e.topic = "run.failed";
  const std::string payload = std::string("\x00\x01\xff raw", 7);
  e.payload.assign(payload.begin(), payload.end());
  return e;
}

ControlReply FullControlReply() {
  ControlReply r;
  r.ok = true;
  r.error = "none";
  r.duplicate = true;
  r.run = FullRun();
  r.runs = {FullRun(), FullRun()};
  r.runs[1].run_id = "r0000000043";
  r.teams = {FullTeam()};
  r.events = {FullLoggedEvent()};
  r.last_seq = 77;
  return r;
}

// Every valid frame the fuzz loop starts from.
std::vector<std::string> SeedFrames() {
  RunEvent run_event;
  run_event.seq = 5;
  run_event.event = "started";
  run_event.at_unix_ms = 1772935200200;
  run_event.run = FullRun();
  AlertEvent alert;
  alert.seq = 6;
  alert.kind = "consecutive_failures";
  alert.team = 7;
  alert.count = 3;
  alert.run_id = "r0000000042";
  alert.message = "team 7 has failed 3 runs in a row";
  alert.at_unix_ms = 1;
  ScheduleChanged changed;
  changed.team = 7;
  changed.change = "put";
  DueAck ack;
  ack.key = "k";
  ack.run_id = "r1";
  ack.duplicate = true;
  TeamStatus status;
  status.consecutive_failures = 2;
  status.alerted = true;
  status.last_success_unix_ms = 5;
  DueEvent manual;
  manual.team = 0;
  manual.kind = "manual";
  RunnerMessage hello;
  hello.type = "hello";
  hello.runner_id = "runner-b";
  hello.slots = 2;
  hello.holding = {{"r0000000009", 1, ""}};
  return {Encode(FullDue()),           Encode(manual),
          Encode(ack),                 Encode(run_event),
          Encode(alert),               Encode(changed),
          Encode(FullRunnerMessage()), Encode(hello),
          Encode(FullBrokerMessage()), Encode(FullControlRequest()),
          Encode(FullControlReply()),  Encode(FullRun()),
          Encode(FullTeam()),          Encode(status),
          Encode(FullLoggedEvent())};
}

// Runs every decoder over `bytes`; returns how many accepted it. Each decoder
// that accepts must accept its own re-encoding of the result, unchanged.
int DecodeWithAll(std::string_view bytes) {
  int accepted = 0;
  auto check = [&](const auto& result, auto decode) {
    if (!result.ok()) {
      // A rejection always carries a reason.
      if (result.status().message().empty()) FAIL("rejected without a reason");
      return;
    }
    ++accepted;
    const std::string again = Encode(result.value());
    const auto second = decode(again);
    if (!second.ok()) {
      FAIL("accepted frame re-encodes to a rejected one: " << second.status().message());
    } else if (Encode(second.value()) != again) {
      FAIL("accepted frame does not round-trip");
    }
  };
  check(DecodeDueEvent(bytes), DecodeDueEvent);
  check(DecodeDueAck(bytes), DecodeDueAck);
  check(DecodeRunEvent(bytes), DecodeRunEvent);
  check(DecodeAlertEvent(bytes), DecodeAlertEvent);
  check(DecodeScheduleChanged(bytes), DecodeScheduleChanged);
  check(DecodeRunnerMessage(bytes), DecodeRunnerMessage);
  check(DecodeBrokerMessage(bytes), DecodeBrokerMessage);
  check(DecodeControlRequest(bytes), DecodeControlRequest);
  check(DecodeControlReply(bytes), DecodeControlReply);
  check(DecodeRunRecord(bytes), DecodeRunRecord);
  check(DecodeTeamRecord(bytes), DecodeTeamRecord);
  check(DecodeTeamStatus(bytes), DecodeTeamStatus);
  check(DecodeLoggedEvent(bytes), DecodeLoggedEvent);
  return accepted;
}

// ---- round trips ---------------------------------------------------------------

void CheckSameRun(const RunRecord& a, const RunRecord& b) {
  CHECK(a.run_id == b.run_id);
  CHECK(a.key == b.key);
  CHECK(a.team == b.team);
  CHECK(a.kind == b.kind);
  CHECK(a.state == b.state);
  CHECK(a.pdate == b.pdate);
  CHECK(a.local_date == b.local_date);
  CHECK(a.fire_unix_ms == b.fire_unix_ms);
  CHECK(a.accepted_unix_ms == b.accepted_unix_ms);
  CHECK(a.started_unix_ms == b.started_unix_ms);
  CHECK(a.finished_unix_ms == b.finished_unix_ms);
  CHECK(a.next_attempt_unix_ms == b.next_attempt_unix_ms);
  CHECK(a.attempt == b.attempt);
  CHECK(a.max_attempts == b.max_attempts);
  CHECK(a.runner_id == b.runner_id);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.error == b.error);
  CHECK(a.total_loans == b.total_loans);
  CHECK(a.exceptions_count == b.exceptions_count);
  CHECK(a.metrics == b.metrics);
  CHECK(a.log_path == b.log_path);
  CHECK(a.cancel_requested == b.cancel_requested);
  CHECK(a.requested_by == b.requested_by);
}

void CheckSameTeam(const TeamRecord& a, const TeamRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.name == b.name);
  CHECK(a.run_time == b.run_time);
  CHECK(a.timezone == b.timezone);
  CHECK(a.paused == b.paused);
  CHECK(a.overlap == b.overlap);
  CHECK(a.command == b.command);
  CHECK(a.max_attempts == b.max_attempts);
  CHECK(a.created_unix_ms == b.created_unix_ms);
  CHECK(a.schedule_since_unix_ms == b.schedule_since_unix_ms);
}

TEST_CASE("every message survives an encode and decode round trip") {
  SUBCASE("DueEvent") {
    const DueEvent in = FullDue();
    auto out = DecodeDueEvent(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().v == kVersion);
    CHECK(out.value().key == in.key);
    CHECK(out.value().team == in.team);
    CHECK(out.value().kind == in.kind);
    CHECK(out.value().fire_unix_ms == in.fire_unix_ms);
    CHECK(out.value().local_date == in.local_date);
    CHECK(out.value().pdate == in.pdate);
    CHECK(out.value().requested_by == in.requested_by);
  }
  SUBCASE("DueAck") {
    DueAck in;
    in.key = "k1";
    in.run_id = "r0000000001";
    in.duplicate = true;
    in.error = "team 9 does not exist";
    auto out = DecodeDueAck(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().key == in.key);
    CHECK(out.value().run_id == in.run_id);
    CHECK(out.value().duplicate);
    CHECK(out.value().error == in.error);
  }
  SUBCASE("RunEvent with its RunRecord") {
    RunEvent in;
    in.seq = 41;
    in.event = "retrying";
    in.at_unix_ms = 1772935209999;
    in.run = FullRun();
    auto out = DecodeRunEvent(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().seq == 41);
    CHECK(out.value().event == "retrying");
    CHECK(out.value().at_unix_ms == in.at_unix_ms);
    CheckSameRun(out.value().run, in.run);
  }
  SUBCASE("AlertEvent") {
    AlertEvent in;
    in.seq = 9;
    in.kind = "recovered";
    in.team = 3;
    in.count = 4;
    in.run_id = "r0000000004";
    in.message = "team 3 succeeded again";
    in.at_unix_ms = 123;
    auto out = DecodeAlertEvent(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().seq == 9);
    CHECK(out.value().kind == "recovered");
    CHECK(out.value().team == 3);
    CHECK(out.value().count == 4);
    CHECK(out.value().run_id == in.run_id);
    CHECK(out.value().message == in.message);
    CHECK(out.value().at_unix_ms == 123);
  }
  SUBCASE("ScheduleChanged") {
    ScheduleChanged in;
    in.team = 8;
    in.change = "remove";
    auto out = DecodeScheduleChanged(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().team == 8);
    CHECK(out.value().change == "remove");
  }
  SUBCASE("RunnerMessage with leases and metrics") {
    const RunnerMessage in = FullRunnerMessage();
    auto out = DecodeRunnerMessage(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    const RunnerMessage& m = out.value();
    CHECK(m.type == in.type);
    CHECK(m.runner_id == in.runner_id);
    CHECK(m.slots == in.slots);
    REQUIRE(m.holding.size() == 2);
    CHECK(m.holding[1].run_id == "r0000000002");
    CHECK(m.holding[1].attempt == 3);
    CHECK(m.run_id == in.run_id);
    CHECK(m.attempt == in.attempt);
    CHECK(m.outcome == in.outcome);
    CHECK(m.exit_code == in.exit_code);
    CHECK(m.error == in.error);
    CHECK(m.total_loans == in.total_loans);
    CHECK(m.exceptions_count == in.exceptions_count);
    CHECK(m.metrics == in.metrics);
    CHECK(m.log_path == in.log_path);
  }
  SUBCASE("BrokerMessage") {
    const BrokerMessage in = FullBrokerMessage();
    auto out = DecodeBrokerMessage(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().type == in.type);
    CHECK(out.value().run_id == in.run_id);
    CHECK(out.value().attempt == in.attempt);
    CHECK(out.value().team == in.team);
    CHECK(out.value().pdate == in.pdate);
    CHECK(out.value().key == in.key);
    CHECK(out.value().command == in.command);
    CHECK(out.value().timeout_s == in.timeout_s);
    CHECK(out.value().lease_ms == in.lease_ms);
    CHECK(out.value().lease_grace_ms == in.lease_grace_ms);
  }
  SUBCASE("ControlRequest with a TeamRecord") {
    const ControlRequest in = FullControlRequest();
    auto out = DecodeControlRequest(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().op == in.op);
    CHECK(out.value().team == in.team);
    CHECK(out.value().all_teams == false);
    CHECK(out.value().pdate == in.pdate);
    CHECK(out.value().key == in.key);
    CHECK(out.value().run_id == in.run_id);
    CHECK(out.value().limit == in.limit);
    CHECK(out.value().since_seq == in.since_seq);
    CHECK(out.value().requested_by == in.requested_by);
    CheckSameTeam(out.value().team_record, in.team_record);
  }
  SUBCASE("ControlReply with runs, teams and events") {
    const ControlReply in = FullControlReply();
    auto out = DecodeControlReply(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().ok);
    CHECK(out.value().error == "none");
    CHECK(out.value().duplicate);
    CheckSameRun(out.value().run, in.run);
    REQUIRE(out.value().runs.size() == 2);
    CHECK(out.value().runs[1].run_id == "r0000000043");
    REQUIRE(out.value().teams.size() == 1);
    CheckSameTeam(out.value().teams[0], in.teams[0]);
    REQUIRE(out.value().events.size() == 1);
    CHECK(out.value().events[0].payload == in.events[0].payload);
    CHECK(out.value().last_seq == 77);
  }
  SUBCASE("RunRecord") {
    auto out = DecodeRunRecord(Encode(FullRun()));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CheckSameRun(out.value(), FullRun());
  }
  SUBCASE("TeamRecord") {
    auto out = DecodeTeamRecord(Encode(FullTeam()));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CheckSameTeam(out.value(), FullTeam());
  }
  SUBCASE("TeamStatus") {
    TeamStatus in;
    in.consecutive_failures = 5;
    in.alerted = true;
    in.last_success_unix_ms = 99;
    auto out = DecodeTeamStatus(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().consecutive_failures == 5);
    CHECK(out.value().alerted);
    CHECK(out.value().last_success_unix_ms == 99);
  }
  SUBCASE("LoggedEvent keeps binary payload bytes exactly") {
    const LoggedEvent in = FullLoggedEvent();
    auto out = DecodeLoggedEvent(Encode(in));
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().seq == 77);
    CHECK(out.value().topic == "run.failed");
    CHECK(out.value().payload == in.payload);
  }
}

TEST_CASE("a LoggedEvent payload written as a msgpack str decodes too") {
  MapFrame f;
  f.Set("seq", 3).Set("topic", std::string("run.started")).Set("payload", std::string("abc"));
  auto out = DecodeLoggedEvent(f.Bytes());
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(std::string(out.value().payload.begin(), out.value().payload.end()) == "abc");
}

TEST_CASE("a missing optional key keeps its default") {
  auto out = DecodeRunnerMessage(Runner("heartbeat").Bytes());
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(out.value().exit_code == -1);
  CHECK(out.value().total_loans == -1);
  CHECK(out.value().holding.empty());
  CHECK(out.value().outcome.empty());
}

// ---- malformed frames ------------------------------------------------------------

TEST_CASE("malformed bytes are rejected with a reason and never throw") {
  const std::string valid = ScheduledDue().Bytes();
  REQUIRE(DecodeDueEvent(valid).ok());

  SUBCASE("empty input") {
    CheckRejected(DecodeDueEvent(std::string_view()).status(), "due");
  }
  SUBCASE("a byte msgpack never uses") {
    CheckRejected(DecodeDueEvent(std::string("\xc1", 1)).status(), "undecodable");
  }
  SUBCASE("random bytes") {
    std::mt19937 rng(12345);
    for (int i = 0; i < 2000; ++i) {
      std::string bytes(1 + rng() % 64, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      auto r = DecodeDueEvent("");
      REQUIRE_NOTHROW(r = DecodeDueEvent(bytes));
      if (r.ok()) continue;  // astronomically unlikely, but not wrong
      CHECK_FALSE(r.status().message().empty());
    }
  }
  SUBCASE("every truncation of a valid frame") {
    for (std::size_t n = 0; n < valid.size(); ++n) {
      auto r = DecodeDueEvent(std::string_view(valid).substr(0, n));
      CHECK_FALSE(r.ok());
    }
    CheckRejected(DecodeDueEvent(std::string_view(valid).substr(0, valid.size() - 1)).status(),
                  "undecodable");
  }
  SUBCASE("trailing bytes after the map") {
    CheckRejected(DecodeDueEvent(valid + std::string(1, '\0')).status(), "trailing bytes");
    CheckRejected(DecodeDueEvent(valid + valid).status(), "trailing bytes");
  }
  SUBCASE("a top-level value that is not a map") {
    CheckRejected(DecodeDueEvent(Encode(std::vector<int>{1, 7})).status(), "not a msgpack map");
    CheckRejected(DecodeDueEvent(Encode(std::string("due"))).status(), "not a msgpack map");
    CheckRejected(DecodeDueEvent(Encode(42)).status(), "not a msgpack map");
  }
  SUBCASE("a map whose keys are not strings") {
    msgpack::sbuffer buffer;
    Packer p(buffer);
    p.pack_map(4);
    p.pack(std::string("v")).pack(1);
    p.pack(std::string("team")).pack(7);
    p.pack(std::string("kind")).pack(std::string("manual"));
    p.pack(5).pack(6);  // integer key
    auto r = DecodeDueEvent(std::string_view(buffer.data(), buffer.size()));
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.status().message().empty());
  }
}

TEST_CASE("the schema version is required and must not be newer than ours") {
  SUBCASE("missing v") {
    CheckRejected(DecodeDueEvent(ScheduledDue().Erase("v").Bytes()).status(),
                  "missing required key \"v\"");
    CheckRejected(DecodeRunnerMessage(Runner("heartbeat").Erase("v").Bytes()).status(),
                  "missing required key \"v\"");
  }
  SUBCASE("a newer v") {
    CheckRejected(DecodeDueEvent(ScheduledDue().Set("v", kVersion + 1).Bytes()).status(),
                  "unsupported schema version 2");
    CheckRejected(DecodeRunEvent(MapFrame()
                                     .Set("v", 7)
                                     .Set("seq", 1)
                                     .Set("event", std::string("started"))
                                     .SetRaw("run", [](Packer& p) { p.pack_map(0); })
                                     .Bytes())
                      .status(),
                  "unsupported schema version 7");
  }
  SUBCASE("v zero") {
    CheckRejected(DecodeDueEvent(ScheduledDue().Set("v", 0).Bytes()).status(),
                  "unsupported schema version 0");
  }
  SUBCASE("v of the wrong type") {
    CheckRejected(DecodeDueEvent(ScheduledDue().Set("v", std::string("1")).Bytes()).status(),
                  "undecodable");
  }
}

// ---- rejections, one table ---------------------------------------------------
// Each row is a frame one decoder must refuse, and a part of the reason the
// refusal must name, so a reader (and an operator reading the log) learns
// what was wrong.

template <auto Decoder>
common::Status StatusOf(std::string_view bytes) {
  return Decoder(bytes).status();
}

struct Rejection {
  const char* what;
  std::string bytes;
  common::Status (*decode)(std::string_view);
  std::string reason;
};

constexpr auto kDue = &StatusOf<DecodeDueEvent>;
constexpr auto kRunnerMsg = &StatusOf<DecodeRunnerMessage>;

MapFrame Manual() {
  MapFrame f;
  f.Set("v", 1).Set("team", 1).Set("kind", std::string("manual"));
  return f;
}

std::vector<Rejection> Rejections() {
  auto pack_map0 = [](Packer& p) { p.pack_map(0); };
  auto string_metric = [](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("x"));
    p.pack(std::string("1.0"));
  };
  std::vector<Rejection> rows = {
      // A required key is missing: the reason names it.
      {"due without team", ScheduledDue().Erase("team").Bytes(), kDue, "\"team\""},
      {"due without kind", ScheduledDue().Erase("kind").Bytes(), kDue, "\"kind\""},
      {"runner message without runner_id", Runner("heartbeat").Erase("runner_id").Bytes(),
       kRunnerMsg, "\"runner_id\""},
      {"runner message without type", Runner("heartbeat").Erase("type").Bytes(), kRunnerMsg,
       "\"type\""},
      {"run event without run",
       MapFrame().Set("v", 1).Set("seq", 1).Set("event", std::string("started")).Bytes(),
       &StatusOf<DecodeRunEvent>, "\"run\""},
      {"control request without op", MapFrame().Set("v", 1).Bytes(),
       &StatusOf<DecodeControlRequest>, "\"op\""},
      {"control reply without ok", MapFrame().Set("v", 1).Bytes(), &StatusOf<DecodeControlReply>,
       "\"ok\""},
      // A field of the wrong type or out of range.
      {"team as a string", ScheduledDue().Set("team", std::string("7")).Bytes(), kDue,
       "undecodable"},
      {"negative team", ScheduledDue().Set("team", -1).Bytes(), kDue, "undecodable"},
      {"team beyond 32 bits", ScheduledDue().Set("team", std::uint64_t{1} << 32).Bytes(), kDue,
       "undecodable"},
      {"team beyond the largest id", ScheduledDue().Set("team", 1'000'000'000).Bytes(), kDue,
       "out of range"},
      {"key as an integer", ScheduledDue().Set("key", 5).Bytes(), kDue, "undecodable"},
      {"holding as a map", Runner("hello").Set("slots", 1).SetRaw("holding", pack_map0).Bytes(),
       kRunnerMsg, "undecodable"},
      {"metrics with a string value", Runner("heartbeat").SetRaw("metrics", string_metric).Bytes(),
       kRunnerMsg, "undecodable"},
      // A due event is validated against its kind.
      {"an unknown kind", ScheduledDue().Set("kind", std::string("weekly")).Bytes(), kDue,
       "kind \"weekly\""},
      {"scheduled without a key", ScheduledDue().Erase("key").Bytes(), kDue, "run key"},
      {"backfill without a key",
       ScheduledDue().Set("kind", std::string("backfill")).Erase("key").Bytes(), kDue, "run key"},
      {"scheduled without a fire time", ScheduledDue().Erase("fire_unix_ms").Bytes(), kDue,
       "fire_unix_ms"},
      {"scheduled with a negative fire time", ScheduledDue().Set("fire_unix_ms", -5).Bytes(), kDue,
       "fire_unix_ms"},
      {"scheduled without a local date", ScheduledDue().Erase("local_date").Bytes(), kDue, "date"},
      {"scheduled with a local date that is not a date",
       ScheduledDue().Set("local_date", std::string("2026-02-30")).Bytes(), kDue, "2026-02-30"},
      {"a key with a space", ScheduledDue().Set("key", std::string("sched 7")).Bytes(), kDue,
       "without spaces"},
      {"a manual key with a control character", Manual().Set("key", std::string("a\tb")).Bytes(),
       kDue, "without spaces"},
      // Regression: the broker parses local_date with .value() to default the
      // purchase date, so a manual due with a bad one must not get through.
      {"a manual event with a local date that is not a date",
       Manual().Set("local_date", std::string("soon")).Bytes(), kDue, "soon"},
      // A runner message is validated against its type.
      {"an unknown runner message type", Runner("reboot").Bytes(), kRunnerMsg,
       "unknown type \"reboot\""},
      {"a result without an outcome", Runner("result").Set("run_id", std::string("r1")).Bytes(),
       kRunnerMsg, "outcome"},
      {"a result with an unknown outcome",
       Runner("result").Set("run_id", std::string("r1")).Set("outcome", std::string("meh")).Bytes(),
       kRunnerMsg, "outcome \"meh\""},
      {"a result without a run id", Runner("result").Set("outcome", std::string("succeeded")).Bytes(),
       kRunnerMsg, "without run_id"},
      {"started without a run id", Runner("started").Bytes(), kRunnerMsg, "without run_id"},
      {"hello without slots", Runner("hello").Bytes(), kRunnerMsg, "slots"},
      {"hello with zero slots", Runner("hello").Set("slots", 0).Bytes(), kRunnerMsg, "slots"},
      {"hello with too many slots", Runner("hello").Set("slots", 1025).Bytes(), kRunnerMsg,
       "slots"},
      {"an empty runner id", Runner("heartbeat").Set("runner_id", std::string()).Bytes(),
       kRunnerMsg, "runner_id"},
      {"an overlong runner id", Runner("heartbeat").Set("runner_id", std::string(129, 'r')).Bytes(),
       kRunnerMsg, "runner_id"},
      // Broker messages and control requests.
      {"a broker message of unknown type",
       MapFrame().Set("v", 1).Set("type", std::string("reboot")).Bytes(),
       &StatusOf<DecodeBrokerMessage>, "unknown type \"reboot\""},
      {"a control request with a bad purchase date",
       MapFrame().Set("v", 1).Set("op", std::string("trigger")).Set("pdate", std::string("2026-99-01")).Bytes(),
       &StatusOf<DecodeControlRequest>, "2026-99-01"},
  };
  for (const char* bad : {"2026-13-01", "2026-02-29", "26-03-10", "2026/03/10", "yesterday"}) {
    rows.push_back({"a bad purchase date", ScheduledDue().Set("pdate", std::string(bad)).Bytes(),
                    kDue, bad});
  }
  return rows;
}

TEST_CASE("each malformed message is rejected with a reason naming what is wrong") {
  for (const Rejection& row : Rejections()) {
    CAPTURE(row.what);
    CheckRejected(row.decode(row.bytes), row.reason);
  }
}

TEST_CASE("the nearest valid frames are accepted") {
  // The other side of the table: each row's frame differs from one of
  // these by the one thing the row breaks.
  const std::vector<std::pair<const char*, std::string>> accepted = {
      {"a complete scheduled event", ScheduledDue().Bytes()},
      {"backfill is a known kind", ScheduledDue().Set("kind", std::string("backfill")).Bytes()},
      {"a leap day is a good purchase date",
       ScheduledDue().Set("pdate", std::string("2028-02-29")).Bytes()},
  };
  for (const auto& [what, bytes] : accepted) {
    CAPTURE(what);
    const auto r = DecodeDueEvent(bytes);
    CHECK_MESSAGE(r.ok(), r.status().ToString());
  }
  const auto manual = DecodeDueEvent(MapFrame().Set("v", 1).Set("team", 0).Set("kind", std::string("manual")).Bytes());
  REQUIRE_MESSAGE(manual.ok(), manual.status().ToString());
  CHECK(manual.value().key.empty());

  const std::vector<std::pair<const char*, std::string>> runner_accepted = {
      {"heartbeat", Runner("heartbeat").Bytes()},
      {"bye", Runner("bye").Bytes()},
      {"hello with one slot", Runner("hello").Set("slots", 1).Bytes()},
      {"hello with 1024 slots", Runner("hello").Set("slots", 1024).Bytes()},
      {"started", Runner("started").Set("run_id", std::string("r1")).Set("attempt", 1).Bytes()},
      {"result",
       Runner("result").Set("run_id", std::string("r1")).Set("outcome", std::string("failed")).Bytes()},
  };
  for (const auto& [what, bytes] : runner_accepted) {
    CAPTURE(what);
    const auto r = DecodeRunnerMessage(bytes);
    CHECK_MESSAGE(r.ok(), r.status().ToString());
  }
}

TEST_CASE("frames and fields beyond the size limits are rejected") {
  SUBCASE("a frame over 256 KiB") {
    const std::string huge(kMaxFrameBytes + 1, '\x90');
    CheckRejected(DecodeDueEvent(huge).status(), "exceeds the limit");
    CheckRejected(DecodeRunnerMessage(huge).status(), "exceeds the limit");
    CheckRejected(DecodeControlRequest(huge).status(), "exceeds the limit");
  }
  SUBCASE("a string of 64 KiB is the most allowed") {
    const auto at_limit = ScheduledDue().Set("requested_by", std::string(64 * 1024, 'x')).Bytes();
    CHECK(DecodeDueEvent(at_limit).ok());
    const auto over = ScheduledDue().Set("requested_by", std::string(64 * 1024 + 1, 'x')).Bytes();
    CheckRejected(DecodeDueEvent(over).status(), "undecodable");
  }
  SUBCASE("a string header claiming 4 GiB in a tiny frame") {
    const std::string bytes = ScheduledDue().SetRaw("requested_by", [](Packer& p) {
      p.pack_str(0xffffffffu);  // header only, no body
    }).Bytes();
    CHECK(bytes.size() < 200);
    CheckRejected(DecodeDueEvent(bytes).status(), "undecodable");
  }
  SUBCASE("an array of 4096 items is the most allowed") {
    auto with_command = [](std::uint32_t n) {
      return MapFrame()
          .Set("v", 1)
          .Set("type", std::string("dispatch"))
          .Set("command", std::vector<std::string>(n, "x"))
          .Bytes();
    };
    CHECK(DecodeBrokerMessage(with_command(4096)).ok());
    CheckRejected(DecodeBrokerMessage(with_command(4097)).status(), "undecodable");
  }
  SUBCASE("an array header claiming 4 billion items in a tiny frame") {
    const std::string bytes =
        Runner("hello").Set("slots", 1).SetRaw("holding", [](Packer& p) {
          p.pack_array(0xffffffffu);
        }).Bytes();
    CheckRejected(DecodeRunnerMessage(bytes).status(), "undecodable");
  }
  SUBCASE("a map of more than 256 entries") {
    MapFrame f = ScheduledDue();
    for (int i = 0; i < 260; ++i) f.Set("extra" + std::to_string(i), i);
    CheckRejected(DecodeDueEvent(f.Bytes()).status(), "undecodable");
  }
  SUBCASE("replies may be larger than bus frames") {
    ControlReply reply;
    reply.ok = true;
    reply.runs.assign(3000, FullRun());  // about 1 MB
    const std::string bytes = Encode(reply);
    REQUIRE(bytes.size() > kMaxFrameBytes);
    auto out = DecodeControlReply(bytes);
    REQUIRE_MESSAGE(out.ok(), out.status().ToString());
    CHECK(out.value().runs.size() == 3000);
  }
}

TEST_CASE("nesting deeper than 6 levels is rejected") {
  // The top-level map is level 1; an unknown key's value adds the rest.
  SUBCASE("6 levels are fine") {
    auto r = DecodeDueEvent(ScheduledDue().SetRaw("extra", Nested(5)).Bytes());
    CHECK_MESSAGE(r.ok(), r.status().ToString());
  }
  SUBCASE("7 levels are not") {
    CheckRejected(DecodeDueEvent(ScheduledDue().SetRaw("extra", Nested(6)).Bytes()).status(),
                  "undecodable");
  }
  SUBCASE("very deep nesting") {
    CheckRejected(DecodeDueEvent(ScheduledDue().SetRaw("extra", Nested(10000)).Bytes()).status(),
                  "undecodable");
  }
}

TEST_CASE("unknown keys are ignored") {
  const std::string bytes = ScheduledDue()
                                .Set("future_field", std::string("whatever"))
                                .SetRaw("future_map",
                                        [](Packer& p) {
                                          p.pack_map(1);
                                          p.pack(std::string("a"));
                                          p.pack(std::vector<int>{1, 2, 3});
                                        })
                                .Bytes();
  auto r = DecodeDueEvent(bytes);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r.value().team == 7);
  CHECK(r.value().key == "sched:7:2026-03-08T02:00");
}

TEST_CASE("run keys are 1-200 printable ASCII characters without spaces") {
  CHECK(ValidateRunKey("a").ok());
  CHECK(ValidateRunKey(std::string(200, 'k')).ok());
  CHECK(ValidateRunKey("sched:general:2026-03-08T02:00").ok());
  CHECK_FALSE(ValidateRunKey("").ok());
  CHECK_FALSE(ValidateRunKey(std::string(201, 'k')).ok());
  CHECK_FALSE(ValidateRunKey("a b").ok());
  CHECK_FALSE(ValidateRunKey("a\x7f").ok());
  CHECK_FALSE(ValidateRunKey("caf\xc3\xa9").ok());
}

TEST_CASE("team records are validated naming the bad value") {
  TeamRecord t;
  t.id = 3;
  CHECK(ValidateTeamRecord(t).ok());
  SUBCASE("run time") {
    t.run_time = "25:00";
    CHECK(ValidateTeamRecord(t).message().find("25:00") != std::string::npos);
  }
  SUBCASE("zone") {
    t.timezone = "Mars/Olympus";
    CHECK(ValidateTeamRecord(t).message().find("Mars/Olympus") != std::string::npos);
  }
  SUBCASE("overlap") {
    t.overlap = "parallel";
    CHECK(ValidateTeamRecord(t).message().find("parallel") != std::string::npos);
  }
  SUBCASE("id") {
    t.id = 1'000'000'000;
    CHECK_FALSE(ValidateTeamRecord(t).ok());
  }
  SUBCASE("max attempts") {
    t.max_attempts = 101;
    CHECK_FALSE(ValidateTeamRecord(t).ok());
  }
}

// ---- fuzz ------------------------------------------------------------------------

std::string Mutate(std::string bytes, std::mt19937_64& rng) {
  static constexpr unsigned char kInteresting[] = {
      0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc7,
      0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    const std::size_t pos = bytes.empty() ? 0 : rng() % bytes.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!bytes.empty()) bytes[pos] = static_cast<char>(bytes[pos] ^ (1u << (rng() % 8)));
        break;
      case 1:  // an interesting byte
        if (!bytes.empty()) bytes[pos] = static_cast<char>(kInteresting[rng() % sizeof kInteresting]);
        break;
      case 2:  // insert a random byte
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<char>(rng()));
        break;
      case 3:  // delete a byte
        if (!bytes.empty()) bytes.erase(pos, 1);
        break;
      case 4:  // truncate
        bytes.resize(pos);
        break;
      case 5: {  // duplicate a slice
        const std::size_t len = bytes.empty() ? 0 : rng() % (bytes.size() - pos + 1);
        bytes.insert(pos, bytes.substr(pos, len));
        break;
      }
      default:  // a big-endian length field of 0xff..
        if (bytes.size() >= pos + 4) {
          for (std::size_t j = 1; j < 4; ++j) bytes[pos + j] = '\xff';
        }
        break;
    }
  }
  return bytes;
}

TEST_CASE("decoders never throw or crash on 20000 mutated frames") {
  const std::vector<std::string> seeds = SeedFrames();
  // Each seed is accepted by at least its own decoder, so mutations start
  // from frames that reach deep into the checks.
  for (const std::string& seed : seeds) CHECK(DecodeWithAll(seed) >= 1);

  std::mt19937_64 rng(20260308);
  int thrown = 0;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string frame = Mutate(seeds[rng() % seeds.size()], rng);
    try {
      accepted += DecodeWithAll(frame) > 0 ? 1 : 0;
    } catch (const std::exception& e) {
      ++thrown;
      FAIL("decoder threw on mutation " << i << ": " << e.what());
    }
  }
  CHECK(thrown == 0);
  // Sanity: the mutations are not all trivially rejected, nor all harmless.
  CHECK(accepted > 100);
  CHECK(accepted < 20000);
}

// ---- text at the boundary ----------------------------------------------------

// Writes `text` as a msgpack bin, where our structs would write a str.
std::function<void(Packer&)> Bin(std::string text) {
  return [text = std::move(text)](Packer& p) {
    p.pack_bin(static_cast<std::uint32_t>(text.size()));
    p.pack_bin_body(text.data(), static_cast<std::uint32_t>(text.size()));
  };
}

TEST_CASE("a due whose requested_by is not UTF-8 is refused, naming the field") {
  CheckRejected(DecodeDueEvent(ScheduledDue().Set("requested_by", std::string("bob \xff")).Bytes())
                    .status(),
                "requested_by is not valid UTF-8");
}

TEST_CASE("overlong forms, surrogates, truncated sequences and code points past U+10FFFF are not UTF-8") {
  for (const std::string bad : {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                "caf\xc3", "\x80", "\xfe"}) {
    CAPTURE(bad);
    CheckRejected(DecodeDueEvent(ScheduledDue().Set("requested_by", bad).Bytes()).status(),
                  "requested_by is not valid UTF-8");
  }
}

TEST_CASE("well-formed multibyte UTF-8 in a str field decodes unchanged") {
  const std::string text = "Jos\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x8e\x89";
  auto out = DecodeDueEvent(ScheduledDue().Set("requested_by", text).Bytes());
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(out.value().requested_by == text);
}

TEST_CASE("a nested str that is not UTF-8 is refused with its path") {
  auto hello = Runner("hello").Set("slots", 2).SetRaw("holding", [&](Packer& p) {
    p.pack_array(1);
    p.pack_map(2);
    p.pack(std::string("run_id"));
    p.pack(std::string("r\xff"));
    p.pack(std::string("attempt"));
    p.pack(1);
  });
  CheckRejected(DecodeRunnerMessage(hello.Bytes()).status(), "holding[0].run_id is not valid UTF-8");
  CheckRejected(DecodeRunnerMessage(Runner("result")
                                        .Set("run_id", std::string("r0000000001"))
                                        .Set("outcome", std::string("failed"))
                                        .Set("error", std::string("exit \xc0\x80"))
                                        .Bytes())
                    .status(),
                "error is not valid UTF-8");
}

TEST_CASE("a metrics key that is not UTF-8 is refused") {
  auto result = Runner("result")
                    .Set("run_id", std::string("r0000000001"))
                    .Set("outcome", std::string("succeeded"))
                    .SetRaw("metrics", [](Packer& p) {
                      p.pack_map(1);
                      p.pack(std::string("rows\xff"));
                      p.pack(1.5);
                    });
  CheckRejected(DecodeRunnerMessage(result.Bytes()).status(), "a key in metrics is not valid UTF-8");
}

TEST_CASE("a msgpack bin where PROTOCOL.md says str is refused, naming the field") {
  CheckRejected(DecodeDueEvent(ScheduledDue().SetRaw("requested_by", Bin("bob")).Bytes()).status(),
                "requested_by is a msgpack bin, not a str");
  CheckRejected(DecodeDueEvent(ScheduledDue().SetRaw("kind", Bin("scheduled")).Bytes()).status(),
                "kind is a msgpack bin, not a str");
  CheckRejected(DecodeRunnerMessage(Runner("heartbeat").SetRaw("runner_id", Bin("runner-a")).Bytes())
                    .status(),
                "runner_id is a msgpack bin, not a str");
  CheckRejected(DecodeControlRequest(MapFrame()
                                         .Set("v", 1)
                                         .Set("op", std::string("trigger"))
                                         .SetRaw("requested_by", Bin("bob"))
                                         .Bytes())
                    .status(),
                "requested_by is a msgpack bin, not a str");
  // The broker's answers and records are held to the same: no bin for str.
  CheckRejected(DecodeRunRecord(MapFrame()
                                    .Set("v", 1)
                                    .Set("run_id", std::string("r1"))
                                    .SetRaw("error", Bin("x"))
                                    .Bytes())
                    .status(),
                "error is a msgpack bin, not a str");
}

TEST_CASE("a LoggedEvent payload may be bin or str and is not checked as text, alone or in a reply") {
  MapFrame f;
  f.Set("seq", 3).Set("topic", std::string("run.started")).SetRaw("payload", Bin("\x01\xff"));
  auto out = DecodeLoggedEvent(f.Bytes());
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  f.Set("payload", std::string("\xff\xfe"));
  out = DecodeLoggedEvent(f.Bytes());
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(out.value().payload.size() == 2);
  auto reply = DecodeControlReply(Encode(FullControlReply()));
  REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
  CHECK(reply.value().events.at(0).payload == FullLoggedEvent().payload);
}

TEST_CASE("a stored run or team, or a reply carrying one, keeps text that is not UTF-8 (stores from release 1)") {
  RunRecord run = FullRun();
  run.requested_by = "bob \xff";
  auto stored = DecodeRunRecord(Encode(run));
  REQUIRE_MESSAGE(stored.ok(), stored.status().ToString());
  CHECK(stored.value().requested_by == run.requested_by);
  TeamRecord team = FullTeam();
  team.name = "Caf\xe9";  // Latin-1
  auto stored_team = DecodeTeamRecord(Encode(team));
  REQUIRE_MESSAGE(stored_team.ok(), stored_team.status().ToString());
  CHECK(stored_team.value().name == team.name);
  ControlReply reply;
  reply.ok = true;
  reply.runs = {run};
  reply.teams = {team};
  auto answered = DecodeControlReply(Encode(reply));
  REQUIRE_MESSAGE(answered.ok(), answered.status().ToString());
  CHECK(answered.value().runs.at(0).requested_by == run.requested_by);
  RunEvent event;
  event.seq = 1;
  event.event = "failed";
  event.run = run;
  auto published = DecodeRunEvent(Encode(event));
  REQUIRE_MESSAGE(published.ok(), published.status().ToString());
}

}  // namespace
}  // namespace schemas

TEST_CASE("a notifier.progress report round-trips, and junk or hostile sink names are refused") {
  schemas::NotifierProgress p;
  p.incarnation = "a1b2";
  p.committed_seq = 42;
  p.sinks["webhook"] = {3, 10, 2, 1};
  auto back = schemas::DecodeNotifierProgress(schemas::Encode(p));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back.value().committed_seq == 42);
  CHECK(back.value().sinks.at("webhook").queued == 3);
  CHECK(back.value().sinks.at("webhook").undeliverable == 1);
  CHECK_FALSE(schemas::DecodeNotifierProgress("not msgpack").ok());
  CHECK_FALSE(schemas::DecodeNotifierProgress(schemas::Encode(p) + "x").ok());  // trailing bytes
  p.sinks["\xff\xfe"] = {};
  CHECK_FALSE(schemas::DecodeNotifierProgress(schemas::Encode(p)).ok());
  p.sinks.clear();
  for (int i = 0; i < 300; ++i) p.sinks["s" + std::to_string(i)] = {};
  CHECK_FALSE(schemas::DecodeNotifierProgress(schemas::Encode(p)).ok());
}

TEST_CASE("JSON views give times in UTC beside their milliseconds, and unknown figures as null") {
  schemas::RunRecord r;
  r.accepted_unix_ms = 1748916000123;  // 2025-06-03 02:00:00.123 UTC
  const nlohmann::json j = schemas::ToJson(r);
  CHECK(j["accepted_unix_ms"] == 1748916000123);
  CHECK(j["accepted_utc"] == "2025-06-03T02:00:00.123Z");
  CHECK(j["started_utc"].is_null());  // not started
  CHECK(j["total_loans"].is_null());  // -1 in the record: unknown
  CHECK(j["exit_code"].is_null());
  r.total_loans = 0;
  r.exit_code = 0;
  CHECK(schemas::ToJson(r)["total_loans"] == 0);  // zero is known
  CHECK(schemas::ToJson(r)["exit_code"] == 0);
}
