// RunnerHarness: a Runner wired to a FakeBroker, a FakeProcessHost and a
// FakeClock, with its folders in a TempDir, and the steps the runner tests
// repeat: expect a message, deliver one and know it was handled.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <zmq.hpp>

#include "runner/runner.h"
#include "schemas/vocabulary.h"
#include "tests/runner/fake_broker.h"
#include "tests/runner/fake_process_host.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace testing {

using namespace std::chrono_literals;

// Real time a test waits for a message before it fails: generous, since
// only a broken runner ever uses it up.
inline constexpr std::chrono::milliseconds kPatience{3000};

struct RunnerHarness {
  // `tweak` changes the settings before the runner is made.
  explicit RunnerHarness(const std::function<void(runner::RunnerSettings&)>& tweak = {},
                         bool with_exit_fd = true)
      : host(with_exit_fd) {
    settings.runner_id = "runner-a";
    settings.slots = 2;
    settings.default_command = {"pipeline", "loan-tape"};
    settings.input_root = dir.Sub("in");
    settings.output_root = dir.Sub("out");
    settings.log_dir = dir.Sub("logs");
    settings.heartbeat = 1000ms;
    settings.heartbeat_liveness = 3;
    settings.run_timeout = 3600s;
    settings.kill_grace = 10s;
    settings.drain_timeout = 60s;
    if (tweak) tweak(settings);
    runner = std::make_unique<runner::Runner>(broker.Factory(settings.runner_id), host, clock,
                                              settings);
  }

  // Starts the runner, turns it once (its first heartbeat goes out) and
  // returns its hello.
  schemas::RunnerMessage Start() {
    REQUIRE(runner->Start().ok());
    const schemas::RunnerMessage hello = Expect(schemas::runner_msg::kHello);
    Turn();
    return hello;
  }

  // One turn that waits for nothing; the test fails if it errs.
  bool Turn(bool stop = false) {
    auto more = runner->Turn(stop, 0ms);
    REQUIRE_MESSAGE(more.ok(), more.status().message());
    return more.value();
  }

  // Turns the runner until the broker receives a message of `type`; the
  // ones before it are appended to `seen`.
  schemas::RunnerMessage Expect(std::string_view type) {
    const auto give_up = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < give_up) {
      while (auto m = broker.Receive(0ms)) {
        if (m->type == type) return *m;
        seen.push_back(*m);
      }
      auto more = runner->Turn(false, 10ms);
      REQUIRE_MESSAGE(more.ok(), more.status().message());
    }
    FAIL("no " << type << " from the runner within " << kPatience.count() << " ms");
    return {};
  }

  // Sends `m`, then a welcome that asks for hello; the hello proves `m` was
  // handled (the runner reads in order). Returns what came before it,
  // heartbeats left out.
  std::vector<schemas::RunnerMessage> Deliver(const schemas::BrokerMessage& m) {
    broker.Send(m);
    schemas::BrokerMessage again;
    again.type = schemas::broker_msg::kWelcome;
    again.key = schemas::broker_msg::kHelloRequired;
    broker.Send(again);
    seen.clear();
    Expect(schemas::runner_msg::kHello);
    std::vector<schemas::RunnerMessage> out;
    for (const auto& s : seen) {
      if (s.type != schemas::runner_msg::kHeartbeat) out.push_back(s);
    }
    return out;
  }

  // Delivers a dispatch and returns the runner's answer (started or result).
  schemas::RunnerMessage DispatchAndAnswer(const schemas::BrokerMessage& d) {
    auto out = Deliver(d);
    REQUIRE(out.size() == 1);
    return out[0];
  }

  static schemas::BrokerMessage Dispatch(const std::string& run_id, std::uint32_t attempt = 1,
                                         std::uint32_t team = 7) {
    schemas::BrokerMessage d;
    d.type = schemas::broker_msg::kDispatch;
    d.run_id = run_id;
    d.attempt = attempt;
    d.token = "token-" + run_id + "-" + std::to_string(attempt);
    d.team = team;
    d.pdate = "2024-06-04";
    return d;
  }
  static schemas::BrokerMessage Message(std::string_view type, const std::string& run_id = "",
                                        std::uint32_t attempt = 0) {
    schemas::BrokerMessage m;
    m.type = type;
    m.run_id = run_id;
    m.attempt = attempt;
    return m;
  }

  // The value of `name` in the environment of the `index`th spawn.
  std::string SpawnEnv(std::size_t index, std::string_view name) const {
    const std::string prefix = std::string(name) + "=";
    for (const std::string& e : host.spawned.at(index).env) {
      if (e.starts_with(prefix)) return e.substr(prefix.size());
    }
    return "<unset>";
  }

  // Members in destruction order's reverse: the runner's socket closes
  // before the broker's and both before the context.
  zmq::context_t context;
  TempDir dir;
  FakeClock clock;
  FakeProcessHost host;
  FakeBroker broker{context};
  runner::RunnerSettings settings;
  std::unique_ptr<runner::Runner> runner;
  std::vector<schemas::RunnerMessage> seen;
};

}  // namespace testing
