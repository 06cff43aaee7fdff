// Release 1's frames (tests/schemas/golden/v1, written by that release's
// encoder) still decode with today's decoders, with their meaning intact:
// runners, tickers and subscribers of the previous release keep working.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "schemas/codec.h"

namespace schemas {
namespace {

std::string Golden(const std::string& name) {
  const std::string path = std::string(DAYBREAK_SOURCE_DIR) + "/tests/schemas/golden/" + name + ".msgpack";
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing golden frame " << path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename T>
T Decoded(common::Result<T> result) {
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  return result.value();
}

void CheckRun(const RunRecord& run) {
  CHECK(run.run_id == "r0000000042");
  CHECK(run.state == RunState::kSucceeded);
  CHECK(run.attempt == 2);
  CHECK(run.total_loans == 1200);
  CHECK(run.metrics.at("price_avg") == doctest::Approx(101.25));
}

TEST_CASE("every release 1 frame decodes with today's decoders") {
  struct Case {
    const char* file;
    std::function<void(const std::string&)> check;
  };
  const Case cases[] = {
      {"due_scheduled", [](const std::string& b) {
         auto due = Decoded(DecodeDueEvent(b));
         CHECK(due.kind == kind::kScheduled);
         CHECK(due.key == "sched:7:2026-03-10T02:00");
       }},
      {"due_manual", [](const std::string& b) { CHECK(Decoded(DecodeDueEvent(b)).pdate == "2026-03-17"); }},
      {"due_ack", [](const std::string& b) { CHECK(Decoded(DecodeDueAck(b)).run_id == "r0000000042"); }},
      {"run_record", [](const std::string& b) { CheckRun(Decoded(DecodeRunRecord(b))); }},
      {"run_event", [](const std::string& b) {
         auto e = Decoded(DecodeRunEvent(b));
         CHECK(e.event == event::kCompleted);
         CheckRun(e.run);
       }},
      {"alert", [](const std::string& b) { CHECK(Decoded(DecodeAlertEvent(b)).kind == alert::kConsecutiveFailures); }},
      {"schedule_changed", [](const std::string& b) { CHECK(Decoded(DecodeScheduleChanged(b)).change == schedule_change::kPut); }},
      {"team_record", [](const std::string& b) {
         auto t = Decoded(DecodeTeamRecord(b));
         CHECK(t.timezone == "Europe/Berlin");
         CHECK(t.after == std::vector<std::uint32_t>{1, 2});
         // Before sandbox settings existed: network on, no limit, no variables.
         CHECK(t.network);
         CHECK(t.memory_mb == 0);
         CHECK(t.env.empty());
       }},
      {"team_status", [](const std::string& b) { CHECK(Decoded(DecodeTeamStatus(b)).consecutive_failures == 2); }},
      {"logged_event", [](const std::string& b) {
         auto e = Decoded(DecodeLoggedEvent(b));
         CHECK(e.topic == "run.completed");
         CheckRun(Decoded(DecodeRunEvent(std::string(e.payload.begin(), e.payload.end()))).run);
       }},
      {"runner_hello", [](const std::string& b) {
         auto m = Decoded(DecodeRunnerMessage(b));
         CHECK(m.type == runner_msg::kHello);
         CHECK(m.protocol == 0);  // release 1 did not say: the broker reads it as protocol 1
         REQUIRE(m.holding.size() == 1);
         CHECK(m.holding[0].attempt == 2);
       }},
      {"runner_heartbeat", [](const std::string& b) { CHECK(Decoded(DecodeRunnerMessage(b)).type == runner_msg::kHeartbeat); }},
      {"runner_started", [](const std::string& b) { CHECK(Decoded(DecodeRunnerMessage(b)).type == runner_msg::kStarted); }},
      {"runner_result", [](const std::string& b) {
         auto m = Decoded(DecodeRunnerMessage(b));
         CHECK(m.outcome == outcome::kSucceeded);
         CHECK(m.total_loans == 1200);
       }},
      {"runner_bye", [](const std::string& b) { CHECK(Decoded(DecodeRunnerMessage(b)).type == runner_msg::kBye); }},
      {"broker_welcome", [](const std::string& b) { CHECK(Decoded(DecodeBrokerMessage(b)).type == broker_msg::kWelcome); }},
      {"broker_heartbeat", [](const std::string& b) { CHECK(Decoded(DecodeBrokerMessage(b)).type == broker_msg::kHeartbeat); }},
      {"broker_dispatch", [](const std::string& b) {
         auto m = Decoded(DecodeBrokerMessage(b));
         CHECK(m.type == broker_msg::kDispatch);
         CHECK(m.timeout_s == 600);
         CHECK(m.command.size() == 2);
         CHECK(m.network);  // an older broker's dispatch: the network stays on
       }},
      {"broker_ack", [](const std::string& b) { CHECK(Decoded(DecodeBrokerMessage(b)).attempt == 2); }},
      {"broker_cancel", [](const std::string& b) { CHECK(Decoded(DecodeBrokerMessage(b)).type == broker_msg::kCancel); }},
      {"control_runs_list", [](const std::string& b) {
         auto r = Decoded(DecodeControlRequest(b));
         CHECK(r.op == op::kRunsList);
         CHECK_FALSE(r.all_teams);
       }},
      {"control_team_put", [](const std::string& b) { CHECK(Decoded(DecodeControlRequest(b)).team_record.id == 7); }},
      {"control_reply", [](const std::string& b) {
         auto r = Decoded(DecodeControlReply(b));
         REQUIRE(r.runs.size() == 1);
         CheckRun(r.runs[0]);
       }},
  };
  for (const Case& c : cases) {
    const std::string file = c.file;
    CAPTURE(file);
    c.check(Golden(std::string("v1/") + c.file));
  }
}

}  // namespace
}  // namespace schemas
