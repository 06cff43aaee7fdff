// Harness: one broker's RunManager over a real RocksDB in a temp directory
// and a FakeClock, driven like the broker loop drives it. Shared by the
// broker's state-machine tests.
#pragma once

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "broker/rocks_store.h"
#include "broker/run_manager.h"
#include "schemas/codec.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace broker::testing_support {

using namespace std::chrono_literals;
using schemas::BrokerMessage;
using schemas::RunEvent;
using schemas::RunRecord;
using Strings = std::vector<std::string>;

inline Settings TestSettings() {
  Settings s;
  s.misfire_grace = 60s;
  s.retry.initial = 10s;
  s.retry.max = 40s;
  s.retry.retry_any_failure = false;
  s.failure_alert_threshold = 3;
  s.heartbeat = 1000ms;
  s.heartbeat_liveness = 3;
  s.jitter_seed = 7;
  return s;
}

// One broker's worth of state, restartable over the same store. Everything
// the manager puts in its outbox is collected and sorted by destination.
class Harness {
 public:
  explicit Harness(Settings settings = TestSettings()) : settings_(settings) {
    spdlog::set_level(spdlog::level::off);  // the manager logs every change
    auto store = RocksStore::Open(dir_.Sub("db"), /*sync=*/false);
    REQUIRE_MESSAGE(store.ok(), store.status().ToString());
    store_ = std::move(store).value();
    Start();
  }
  // Over a store the test provides (a MemoryStore with faults); it must
  // outlive the harness.
  Harness(Store& store, Settings settings = TestSettings()) : settings_(settings), borrowed_(&store) {
    spdlog::set_level(spdlog::level::off);
    Start();
  }

  // A broker restart: new registry and manager over the same store; the
  // runners are still out there but have not said hello yet. Messages the
  // old broker sent to runners are forgotten; published events are kept.
  void Restart() {
    manager_.reset();
    live_.clear();
    to_runner_.clear();
    Start();
  }

  RunManager& m() { return *manager_; }
  Store& store() { return borrowed_ != nullptr ? *borrowed_ : *store_; }
  TeamRegistry& teams() { return *registry_; }
  testing::FakeClock& clock() { return clock_; }
  std::int64_t NowMs() const { return common::ToUnixMs(clock_.WallNow()); }

  // ---- teams ----
  void AddTeam(std::uint32_t id, const std::string& overlap = "",
               std::uint32_t max_attempts = 0) {
    schemas::TeamRecord t;
    t.id = id;
    t.name = "team " + std::to_string(id);
    t.overlap = overlap;
    t.max_attempts = max_attempts;
    common::Status s = m().PutTeam(t);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    Collect();
  }

  // ---- due events ----
  schemas::DueEvent Manual(std::uint32_t team, const std::string& key = "") {
    schemas::DueEvent due;
    due.team = team;
    due.kind = "manual";
    due.key = key;
    due.requested_by = "test";
    return due;
  }
  schemas::DueEvent Scheduled(std::uint32_t team, std::int64_t fire_ms,
                              const std::string& kind = "scheduled") {
    schemas::DueEvent due;
    due.team = team;
    due.kind = kind;
    due.key = "sched:" + std::to_string(team) + ":" + std::to_string(fire_ms);
    due.fire_unix_ms = fire_ms;
    due.local_date = "2026-03-08";
    return due;
  }
  Admission Admit(const schemas::DueEvent& due) {
    Admission a = m().Admit(due);
    Collect();
    return a;
  }
  // Admits a manual run that must be accepted; returns its id.
  std::string AdmitOk(std::uint32_t team, const std::string& key = "") {
    Admission a = Admit(Manual(team, key));
    REQUIRE_MESSAGE(a.status.ok(), a.status.ToString());
    REQUIRE_FALSE(a.duplicate);
    return a.run.run_id;
  }

  // ---- runners ----
  void Hello(const std::string& runner, std::uint32_t slots = 1,
             std::vector<schemas::Lease> holding = {}) {
    schemas::RunnerMessage msg = Msg("hello", runner);
    msg.protocol = schemas::kWorkProtocol;
    msg.slots = slots;
    msg.holding = WithTokens(std::move(holding));
    Send(runner, msg);
    live_.insert(runner);
  }
  // A heartbeat naming what the runner holds (leases without a token get
  // the token of the attempt's dispatch, as a real runner would echo it).
  void Heartbeat(const std::string& runner, std::vector<schemas::Lease> holding = {}) {
    schemas::RunnerMessage msg = Msg("heartbeat", runner);
    msg.holding = WithTokens(std::move(holding));
    Send(runner, msg);
  }
  // Any runner message, as built by the test.
  void SendRaw(const std::string& runner, const schemas::RunnerMessage& msg) { Send(runner, msg); }
  // The token the dispatch of `run_id` attempt `attempt` carried ("" if none seen).
  std::string Token(const std::string& run_id, std::uint32_t attempt) const {
    auto it = tokens_.find(run_id + "#" + std::to_string(attempt));
    return it == tokens_.end() ? "" : it->second;
  }
  // `token` defaults to the one the attempt's dispatch carried.
  void Started(const std::string& runner, const std::string& run_id, std::uint32_t attempt,
               std::optional<std::string> token = std::nullopt) {
    schemas::RunnerMessage msg = Msg("started", runner);
    msg.run_id = run_id;
    msg.attempt = attempt;
    msg.token = token.value_or(Token(run_id, attempt));
    msg.log_path = "/logs/" + run_id + "." + std::to_string(attempt);
    Send(runner, msg);
  }
  void Result(const std::string& runner, const std::string& run_id, std::uint32_t attempt,
              const std::string& outcome, const std::string& error = "",
              std::optional<std::string> token = std::nullopt) {
    schemas::RunnerMessage msg = Msg("result", runner);
    msg.run_id = run_id;
    msg.attempt = attempt;
    msg.token = token.value_or(Token(run_id, attempt));
    msg.outcome = outcome;
    msg.error = error;
    msg.exit_code = outcome == "succeeded" ? 0 : (outcome == "transient" ? 75 : 1);
    msg.total_loans = 100;
    Send(runner, msg);
    // A success the broker asks to promote is promoted at once, as the
    // runner would (within a turn: in the next turn, all together), so
    // Result(...) ends a current success.
    if (outcome != "succeeded") return;
    if (in_turn_) {
      to_promote_.push_back(msg);
    } else {
      Promote(msg);
    }
  }
  void Bye(const std::string& runner) {
    Send(runner, Msg("bye", runner));
    live_.erase(runner);
  }
  // The runner stops sending anything (crashed, network gone).
  void Silence(const std::string& runner) { live_.erase(runner); }

  // Moves both clocks in steps of at most 500 ms; live runners beat each step
  // and the manager ticks, as the broker loop would.
  void Advance(std::chrono::milliseconds d) {
    while (d > 0ms) {
      const auto step = std::min<std::chrono::milliseconds>(d, 500ms);
      clock_.Advance(step);
      d -= step;
      for (const std::string& runner : live_) m().OnRunnerMessage(runner, Msg("heartbeat", runner));
      m().Tick();
      Collect();
    }
  }
  void AdvanceToWall(std::int64_t wall_ms) {
    REQUIRE(wall_ms >= NowMs());
    Advance(std::chrono::milliseconds(wall_ms - NowMs()));
  }

  // ---- what came out ----
  // Messages of `type` sent to `runner` since last asked (removed from the log).
  std::vector<BrokerMessage> Sent(const std::string& runner, const std::string& type) {
    std::vector<BrokerMessage> out;
    auto& queue = to_runner_[runner];
    for (auto it = queue.begin(); it != queue.end();) {
      if (it->type == type) {
        out.push_back(*it);
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  // Waits out `run_id`'s backoff and returns the one dispatch of its next
  // attempt, which must go to `runner`.
  BrokerMessage RetryDispatch(const std::string& run_id, const std::string& runner) {
    const RunRecord r = Run(run_id);
    REQUIRE_MESSAGE(r.state == schemas::RunState::kRetryWait, "run " << run_id << " is "
                                                                     << schemas::Name(r.state));
    AdvanceToWall(r.next_attempt_unix_ms);
    const BrokerMessage d = OneDispatch(runner);
    REQUIRE(d.run_id == run_id);
    REQUIRE(d.attempt == r.attempt + 1);
    return d;
  }
  // The one dispatch sent to `runner`; fails unless exactly one was sent.
  BrokerMessage OneDispatch(const std::string& runner) {
    auto d = Sent(runner, "dispatch");
    REQUIRE_MESSAGE(d.size() == 1, "dispatches to " << runner << ": " << d.size());
    return d[0];
  }
  std::size_t DispatchCount() {
    std::size_t n = 0;
    for (auto& [runner, queue] : to_runner_) {
      for (const auto& m : queue) n += m.type == "dispatch" ? 1 : 0;
    }
    return n;
  }
  void ForgetRunnerMessages() { to_runner_.clear(); }
  // Between BeginTurn and EndTurn messages reach the manager as one turn of
  // the broker loop does: nothing is written or sent until EndTurn.
  void BeginTurn() { in_turn_ = true; }
  void EndTurn() {
    in_turn_ = false;
    Collect();
    if (to_promote_.empty()) return;
    in_turn_ = true;
    for (const schemas::RunnerMessage& msg : std::exchange(to_promote_, {})) Promote(msg);
    in_turn_ = false;
    Collect();
  }
  // Takes what the manager queued after a direct call on m().
  void Collect() {
    for (Outgoing& out : m().TakeOutbox()) Record(std::move(out));
  }

  const std::vector<RunEvent>& events() const { return events_; }
  const std::vector<schemas::AlertEvent>& alerts() const { return alerts_; }
  const std::vector<schemas::ScheduleChanged>& changes() const { return changes_; }
  const std::vector<std::uint64_t>& seqs() const { return seqs_; }
  const std::vector<Outgoing>& published() const { return published_; }
  Strings EventNames(const std::string& run_id) const {
    Strings names;
    for (const RunEvent& e : events_) {
      if (e.run.run_id == run_id) names.push_back(e.event);
    }
    return names;
  }
  RunRecord Run(const std::string& run_id) {
    // The store holds what the manager wrote: write its pending group first,
    // as the broker does before any read.
    REQUIRE(m().Persist().ok());
    auto run = store().GetRun(run_id);
    REQUIRE_MESSAGE(run.ok(), run.status().ToString());
    return run.value();
  }
  std::string State(const std::string& run_id) { return std::string(schemas::Name(Run(run_id).state)); }

  // Runs a manual run of `team` on `runner` to the given outcome; returns
  // its id. The runner must have a free slot and the team must be idle.
  std::string RunOnce(std::uint32_t team, const std::string& runner, const std::string& outcome) {
    const std::string id = AdmitOk(team);
    const BrokerMessage d = OneDispatch(runner);
    REQUIRE(d.run_id == id);
    Started(runner, id, d.attempt);
    Result(runner, id, d.attempt, outcome, outcome == "succeeded" ? "" : "exit 1");
    return id;
  }

 private:
  void Start() {
    registry_ = std::make_unique<TeamRegistry>(TeamDefaults{});
    manager_ = std::make_unique<RunManager>(store(), *registry_, clock_, settings_);
    common::Status s = manager_->Load();
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    Collect();
  }

  // Answers the broker's promote for `result`, if it sent one.
  void Promote(const schemas::RunnerMessage& result) {
    auto& queue = to_runner_[result.runner_id];
    const auto it = std::find_if(queue.begin(), queue.end(), [&](const BrokerMessage& p) {
      return p.type == "promote" && p.run_id == result.run_id && p.attempt == result.attempt;
    });
    if (it == queue.end()) return;
    queue.erase(it);
    schemas::RunnerMessage promoted = result;
    promoted.type = "promoted";
    Send(result.runner_id, promoted);
  }
  std::vector<schemas::Lease> WithTokens(std::vector<schemas::Lease> leases) const {
    for (schemas::Lease& lease : leases) {
      if (lease.token.empty()) lease.token = Token(lease.run_id, lease.attempt);
    }
    return leases;
  }
  static schemas::RunnerMessage Msg(const std::string& type, const std::string& runner) {
    schemas::RunnerMessage msg;
    msg.type = type;
    msg.runner_id = runner;
    return msg;
  }
  void Send(const std::string& runner, const schemas::RunnerMessage& msg) {
    m().OnRunnerMessage(runner, msg);
    if (!in_turn_) Collect();
  }

  void Record(Outgoing out) {
    if (out.to == Outgoing::To::kRunner) {
      auto msg = schemas::DecodeBrokerMessage(out.payload);
      REQUIRE_MESSAGE(msg.ok(), msg.status().ToString());
      if (msg.value().type == "dispatch") {
        tokens_[msg.value().run_id + "#" + std::to_string(msg.value().attempt)] = msg.value().token;
      }
      to_runner_[out.address].push_back(msg.value());
      return;
    }
    published_.push_back(out);
    if (out.address.starts_with("run.")) {
      auto e = schemas::DecodeRunEvent(out.payload);
      REQUIRE_MESSAGE(e.ok(), e.status().ToString());
      CHECK(out.address == "run." + e.value().event);
      seqs_.push_back(e.value().seq);
      events_.push_back(e.value());
    } else if (out.address.starts_with("alert.")) {
      auto a = schemas::DecodeAlertEvent(out.payload);
      REQUIRE_MESSAGE(a.ok(), a.status().ToString());
      CHECK(out.address == "alert." + a.value().kind);
      seqs_.push_back(a.value().seq);
      alerts_.push_back(a.value());
    } else if (out.address == "schedule.changed") {
      auto c = schemas::DecodeScheduleChanged(out.payload);
      REQUIRE_MESSAGE(c.ok(), c.status().ToString());
      changes_.push_back(c.value());
    } else {
      FAIL("unexpected topic " << out.address);
    }
  }

  testing::TempDir dir_;
  Settings settings_;
  testing::FakeClock clock_;
  std::unique_ptr<RocksStore> store_;
  Store* borrowed_ = nullptr;
  std::unique_ptr<TeamRegistry> registry_;
  std::unique_ptr<RunManager> manager_;
  std::set<std::string> live_;
  std::map<std::string, std::deque<BrokerMessage>> to_runner_;
  std::map<std::string, std::string> tokens_;  // run#attempt -> its dispatch's token
  std::vector<Outgoing> published_;
  std::vector<RunEvent> events_;
  std::vector<schemas::AlertEvent> alerts_;
  std::vector<schemas::ScheduleChanged> changes_;
  std::vector<std::uint64_t> seqs_;
  bool in_turn_ = false;
  std::vector<schemas::RunnerMessage> to_promote_;  // successes sent within a turn
};

}  // namespace broker::testing_support
