// Runner: what it does with a dispatch, how a run ends, and how it stops
// one (cancel, timeout), against a fake broker and a fake process host.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "common/team.h"
#include "tests/runner/runner_harness.h"

namespace {

using namespace testing;
using schemas::RunnerMessage;
namespace outcome = schemas::outcome;
namespace runner_msg = schemas::runner_msg;
namespace broker_msg = schemas::broker_msg;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("a dispatch starts the pipeline in its staging folder with the contract's environment") {
  RunnerHarness h;
  h.Start();
  auto d = RunnerHarness::Dispatch("r1", 1, 7);
  const RunnerMessage started = h.DispatchAndAnswer(d);
  CHECK(started.type == runner_msg::kStarted);
  CHECK(started.run_id == "r1");
  CHECK(started.attempt == 1);
  CHECK(started.log_path == h.settings.log_dir + "/r1.1.log");
  REQUIRE(h.host.spawned.size() == 1);
  const runner::SpawnSpec& spec = h.host.spawned[0];
  CHECK(spec.argv == h.settings.default_command);
  CHECK(spec.cwd == h.settings.output_root + "/sales_team_7/.staging/r1.1");
  CHECK(spec.log_path == started.log_path);
  CHECK(h.SpawnEnv(0, "DAYBREAK_RUN_ID") == "r1");
  CHECK(h.SpawnEnv(0, "DAYBREAK_TEAM") == "7");
  CHECK(std::filesystem::is_directory(spec.cwd + "/output"));
  CHECK(h.runner->running() == 1);

  SUBCASE("the dispatch's own command wins over the default") {
    auto d2 = RunnerHarness::Dispatch("r2", 1, 8);
    d2.command = {"/bin/custom", "--flag"};
    h.DispatchAndAnswer(d2);
    CHECK(h.host.spawned.at(1).argv == d2.command);
  }
}

// The broker's confirmation that attempt `attempt` of `run_id` is current.
schemas::BrokerMessage PromoteOf(const std::string& run_id, std::uint32_t attempt = 1) {
  auto m = RunnerHarness::Message(broker_msg::kPromote, run_id, attempt);
  m.token = "token-" + run_id + "-" + std::to_string(attempt);
  return m;
}

TEST_CASE("exit 0 reports success with the result file's metrics and promotes once confirmed") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const std::string staging = h.host.spawned[0].cwd;
  std::ofstream(h.SpawnEnv(0, "DAYBREAK_RESULT_FILE")) << R"({"total_loans": 12, "exceptions_count": 3})";
  std::ofstream(staging + "/output_share/summary.csv") << "ok\n";
  const pid_t pid = h.host.last_pid();
  h.host.Exit(pid, FakeProcessHost::ExitCode(0));
  const RunnerMessage result = h.Expect(runner_msg::kResult);
  CHECK(result.outcome == outcome::kSucceeded);
  CHECK(result.exit_code == 0);
  CHECK(result.error.empty());
  CHECK(result.total_loans == 12);
  CHECK(result.exceptions_count == 3);
  CHECK(result.log_path == h.settings.log_dir + "/r1.1.log");
  const auto dirs = common::DirsFor(7, h.settings.input_root, h.settings.output_root);
  // Nothing is published before the broker confirms the attempt is current.
  CHECK_FALSE(std::filesystem::exists(dirs.share + "/summary.csv"));
  CHECK(std::filesystem::exists(staging));
  const auto answer = h.Deliver(PromoteOf("r1"));
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].type == runner_msg::kPromoted);
  CHECK(answer[0].outcome == outcome::kSucceeded);
  CHECK(answer[0].total_loans == 12);
  CHECK(Read(dirs.share + "/summary.csv") == "ok\n");
  CHECK(std::filesystem::exists(dirs.output + "/result_20240604.json"));
  CHECK_FALSE(std::filesystem::exists(staging));
  CHECK(h.host.released == std::vector<pid_t>{pid});
  CHECK(h.runner->running() == 0);
  CHECK(h.runner->unacknowledged() == 1);
}

TEST_CASE("a success whose outputs cannot be promoted is transient") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  std::ofstream(h.host.spawned[0].cwd + "/output/purchase.csv") << "today";
  // A non-empty folder where the file goes: rename cannot replace it.
  const auto dirs = common::DirsFor(7, h.settings.input_root, h.settings.output_root);
  std::filesystem::create_directories(dirs.output + "/purchase.csv/inside");
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  CHECK(h.Expect(runner_msg::kResult).outcome == outcome::kSucceeded);
  const auto answer = h.Deliver(PromoteOf("r1"));
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].type == runner_msg::kPromoted);
  CHECK(answer[0].outcome == outcome::kTransient);
  CHECK(answer[0].error.find("cannot move") == 0);
  CHECK_FALSE(std::filesystem::exists(h.host.spawned[0].cwd));
}

TEST_CASE("a success the broker refuses as stale publishes nothing") {
  // Issue 11, item 5: a stalled runner's attempt 1 finished after the
  // broker moved on; its outputs must not reach output/.
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const std::string staging = h.host.spawned[0].cwd;
  std::ofstream(staging + "/output/purchase.csv") << "attempt 1";
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(0));
  CHECK(h.Expect(runner_msg::kResult).outcome == outcome::kSucceeded);
  auto refused = RunnerHarness::Message(broker_msg::kAck, "r1", 1);
  refused.error = "not the current attempt of this run on this runner";
  h.Deliver(refused);
  const auto dirs = common::DirsFor(7, h.settings.input_root, h.settings.output_root);
  CHECK_FALSE(std::filesystem::exists(dirs.output + "/purchase.csv"));
  CHECK_FALSE(std::filesystem::exists(staging));
  CHECK(h.runner->unacknowledged() == 0);
  // A promote arriving after that finds nothing to publish.
  h.Deliver(PromoteOf("r1"));
  CHECK_FALSE(std::filesystem::exists(dirs.output + "/purchase.csv"));
}

TEST_CASE("exit 75 becomes transient") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const std::string staging = h.host.spawned[0].cwd;
  std::ofstream(staging + "/output/half_written.csv") << "partial";
  h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(75));
  const RunnerMessage result = h.Expect(runner_msg::kResult);
  CHECK(result.outcome == outcome::kTransient);
  CHECK(result.exit_code == 75);
  CHECK(result.error.find("75") != std::string::npos);
  // A failed attempt leaves nothing where people read.
  CHECK_FALSE(std::filesystem::exists(staging));
  CHECK_FALSE(std::filesystem::exists(h.settings.output_root + "/sales_team_7/output/half_written.csv"));
}

TEST_CASE("another non-zero exit fails the run and a signal makes it transient") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  SUBCASE("exit 2") {
    h.host.Exit(h.host.last_pid(), FakeProcessHost::ExitCode(2));
    const RunnerMessage result = h.Expect(runner_msg::kResult);
    CHECK(result.outcome == outcome::kFailed);
    CHECK(result.error == "pipeline exited 2");
  }
  SUBCASE("killed from outside") {
    h.host.Exit(h.host.last_pid(), FakeProcessHost::KilledBy(SIGKILL));
    const RunnerMessage result = h.Expect(runner_msg::kResult);
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error == "pipeline killed by signal 9");
  }
}

TEST_CASE("a repeated dispatch of the attempt running here is ignored") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 2));
  SUBCASE("the same attempt again") {
    CHECK(h.Deliver(RunnerHarness::Dispatch("r1", 2)).empty());
  }
  SUBCASE("an older attempt") {
    CHECK(h.Deliver(RunnerHarness::Dispatch("r1", 1)).empty());
  }
  CHECK(h.host.spawned.size() == 1);
  CHECK(h.host.signals.empty());  // the running attempt is left alone
  CHECK(h.runner->running() == 1);
}

TEST_CASE("a newer attempt of a run running here starts only after the old one has exited") {
  // The broker gave up on attempt 1 (this runner was stopped or cut off):
  // attempt 1 is stopped, and the two never run at once.
  RunnerHarness h;
  h.Start();
  const auto started = h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1));
  CHECK(started.token == "token-r1-1");
  CHECK(h.Deliver(RunnerHarness::Dispatch("r1", 2)).empty());
  REQUIRE(h.host.signals.size() == 1);
  CHECK(h.host.signals[0].signal == SIGTERM);
  CHECK(h.host.spawned.size() == 1);  // not yet
  // Meanwhile its heartbeats name the new attempt as held.
  h.clock.Advance(h.settings.heartbeat);
  const auto beat = h.Expect(schemas::runner_msg::kHeartbeat);
  bool names_new = false;
  for (const auto& lease : beat.holding) names_new |= lease.attempt == 2 && lease.token == "token-r1-2";
  CHECK(names_new);
  h.host.Exit(h.host.signals[0].pid, FakeProcessHost::KilledBy(SIGTERM));
  const auto old_result = h.Expect(schemas::runner_msg::kResult);
  CHECK(old_result.attempt == 1);
  CHECK(old_result.token == "token-r1-1");
  CHECK(old_result.outcome != outcome::kSucceeded);
  const auto new_start = h.Expect(schemas::runner_msg::kStarted);
  CHECK(new_start.attempt == 2);
  CHECK(new_start.token == "token-r1-2");
  CHECK(h.host.spawned.size() == 2);
}

TEST_CASE("heartbeats list held attempts and unacknowledged results with their tokens") {
  RunnerHarness h;  // two slots
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1));  // pid 1000
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r2", 3));  // pid 1001
  h.host.Exit(1000, FakeProcessHost::ExitCode(0));
  CHECK(h.Expect(schemas::runner_msg::kResult).run_id == "r1");
  h.clock.Advance(h.settings.heartbeat);
  const auto beat = h.Expect(schemas::runner_msg::kHeartbeat);
  REQUIRE(beat.holding.size() == 1);
  CHECK(beat.holding[0].run_id == "r2");
  CHECK(beat.holding[0].attempt == 3);
  CHECK(beat.holding[0].token == "token-r2-3");
  REQUIRE(beat.finished.size() == 1);  // the result awaits its ack
  CHECK(beat.finished[0].run_id == "r1");
  CHECK(beat.finished[0].token == "token-r1-1");
}

TEST_CASE("a dispatch the runner cannot start is answered with a result") {
  RunnerHarness h;
  h.Start();
  SUBCASE("no free slot: transient") {
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1, 1));
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r2", 1, 2));
    const RunnerMessage result = h.DispatchAndAnswer(RunnerHarness::Dispatch("r3", 1, 3));
    CHECK(result.type == runner_msg::kResult);
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error == "runner runner-a has no free slot");
    CHECK(h.host.spawned.size() == 2);
  }
  SUBCASE("an invalid team id: failed") {
    const RunnerMessage result =
        h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1, common::kMaxTeamId + 1));
    CHECK(result.outcome == outcome::kFailed);
    CHECK(result.error.find("invalid team id") == 0);
    CHECK(h.host.spawned.empty());
  }
  SUBCASE("the pipeline cannot be spawned: failed, staging removed") {
    h.host.spawn_error = common::Status::Error(common::Code::kNotFound, "cannot start pipeline");
    const RunnerMessage result = h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
    CHECK(result.outcome == outcome::kFailed);
    CHECK(result.error == "cannot start pipeline");
    CHECK(result.log_path == h.settings.log_dir + "/r1.1.log");
    CHECK_FALSE(std::filesystem::exists(h.settings.output_root + "/sales_team_7/.staging/r1.1"));
  }
  SUBCASE("the host cannot spawn it (fork, log, folder): transient, staging removed") {
    h.host.spawn_error = common::Status::Error(common::Code::kIoError,
                                               "cannot start pipeline: open r1.1.log: No space left on device");
    const RunnerMessage result = h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error == "cannot start pipeline: open r1.1.log: No space left on device");
    CHECK_FALSE(std::filesystem::exists(h.settings.output_root + "/sales_team_7/.staging/r1.1"));
  }
  SUBCASE("the team's folders cannot be made: transient") {
    std::ofstream(h.settings.output_root) << "a file where a folder should be";
    const RunnerMessage result = h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error.find("cannot create") == 0);
  }
  CHECK(h.runner->unacknowledged() == 1);
}

TEST_CASE("noop mode reports success without starting anything") {
  RunnerHarness h([](runner::RunnerSettings& s) { s.noop = true; });
  h.Start();
  auto out = h.Deliver(RunnerHarness::Dispatch("r1"));
  REQUIRE(out.size() == 2);
  CHECK(out[0].type == runner_msg::kStarted);
  CHECK(out[1].outcome == outcome::kSucceeded);
  CHECK(h.host.spawned.empty());
}

TEST_CASE("cancel sends TERM, then KILL after the grace") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 3));
  const pid_t pid = h.host.last_pid();

  SUBCASE("a cancel for another attempt is ignored") {
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 2));
    CHECK(h.host.signals.empty());
  }
  SUBCASE("a pipeline that ignores TERM") {
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 3));
    CHECK(h.host.Count(pid, SIGTERM) == 1);
    CHECK(h.host.Count(pid, SIGKILL) == 0);
    h.clock.Advance(h.settings.kill_grace - 1ms);
    h.Turn();
    CHECK(h.host.Count(pid, SIGKILL) == 0);
    // A second cancel does not restart the grace.
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 3));
    CHECK(h.host.Count(pid, SIGTERM) == 1);
    h.clock.Advance(1ms);
    h.Turn();
    CHECK(h.host.Count(pid, SIGKILL) == 1);
    h.clock.Advance(h.settings.kill_grace);
    h.Turn();
    CHECK(h.host.Count(pid, SIGKILL) == 1);  // once is enough
    h.host.Exit(pid, FakeProcessHost::KilledBy(SIGKILL));
    const RunnerMessage result = h.Expect(runner_msg::kResult);
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error == "cancelled");
  }
  SUBCASE("a pipeline that exits 0 on TERM is still not a success") {
    h.Deliver(RunnerHarness::Message(broker_msg::kCancel, "r1", 3));
    h.host.Exit(pid, FakeProcessHost::ExitCode(0));
    const RunnerMessage result = h.Expect(runner_msg::kResult);
    CHECK(result.outcome == outcome::kTransient);
    CHECK(result.error == "cancelled");
    CHECK(h.host.Count(pid, SIGKILL) == 0);
  }
}

TEST_CASE("a run past its timeout is stopped and reported transient") {
  RunnerHarness h([](runner::RunnerSettings& s) { s.run_timeout = 30s; });
  h.Start();
  auto d = RunnerHarness::Dispatch("r1");
  SUBCASE("the dispatch's timeout") { d.timeout_s = 5; }
  SUBCASE("the runner's default timeout") { d.timeout_s = 0; }
  const std::chrono::seconds timeout = d.timeout_s > 0 ? std::chrono::seconds(5) : 30s;
  h.DispatchAndAnswer(d);
  const pid_t pid = h.host.last_pid();
  h.clock.Advance(timeout - 1ms);
  h.Turn();
  CHECK(h.host.Count(pid, SIGTERM) == 0);
  h.clock.Advance(1ms);
  h.Turn();
  CHECK(h.host.Count(pid, SIGTERM) == 1);
  h.host.Exit(pid, FakeProcessHost::KilledBy(SIGTERM));
  const RunnerMessage result = h.Expect(runner_msg::kResult);
  CHECK(result.outcome == outcome::kTransient);
  CHECK(result.error == "timed out after " + std::to_string(timeout.count()) + " s");
}

TEST_CASE("a retry first kills what an earlier attempt of the run left on this host") {
  RunnerHarness h;
  h.Start();
  h.host.processes = {{.pid = 500, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 501, .ppid = 1, .state = 'Z', .run_id = "r1", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 502, .ppid = 1, .state = 'S', .run_id = "r9", .deployment = "", .runner_id = "", .name = ""}};
  SUBCASE("attempt 2 sweeps") {
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 2));
    CHECK(h.host.Count(500, SIGKILL, /*group=*/false) == 1);
    CHECK(h.host.Count(501, SIGKILL, false) == 0);  // a zombie is already dead
    CHECK(h.host.Count(502, SIGKILL, false) == 0);
  }
  SUBCASE("attempt 1 has no predecessor, so no /proc walk") {
    const int scans = h.host.scans;
    h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1));
    CHECK(h.host.scans == scans);
    CHECK(h.host.signals.empty());
  }
}

TEST_CASE("a retry's sweep never touches another deployment's run of the same id") {
  // Issue 11, item 6: deployment Y's retry of r1 killed deployment X's r1.
  RunnerHarness h([](runner::RunnerSettings& s) { s.deployment = "deployment-x"; });
  h.Start();
  h.host.processes = {{.pid = 500, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "deployment-y", .runner_id = "", .name = ""},
                      {.pid = 501, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 502, .ppid = 1, .state = 'S', .run_id = "r1", .deployment = "deployment-x", .runner_id = "", .name = ""}};
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 2));
  CHECK(h.host.Count(500, SIGKILL, false) == 0);
  CHECK(h.host.Count(501, SIGKILL, false) == 0);
  CHECK(h.host.Count(502, SIGKILL, false) == 1);
  CHECK(h.SpawnEnv(0, "DAYBREAK_DEPLOYMENT") == "deployment-x");
}

TEST_CASE("an orphan we inherited is killed unless its run still runs here") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1"));
  const pid_t leader = h.host.last_pid();
  const pid_t self = FakeProcessHost::kSelf;
  h.host.processes = {{.pid = leader, .ppid = self, .state = 'S', .run_id = "r1", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 601, .ppid = self, .state = 'S', .run_id = "r1", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 602, .ppid = self, .state = 'S', .run_id = "gone", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 603, .ppid = self, .state = 'S', .run_id = "", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 604, .ppid = self, .state = 'Z', .run_id = "gone", .deployment = "", .runner_id = "", .name = ""},
                      {.pid = 605, .ppid = 77, .state = 'S', .run_id = "gone", .deployment = "", .runner_id = "", .name = ""}};
  SUBCASE("swept on the heartbeat") {
    h.clock.Advance(h.settings.heartbeat);
    h.Turn();
  }
  SUBCASE("swept when an unknown child is reaped") {
    h.host.Exit(602, FakeProcessHost::KilledBy(SIGKILL));
    h.Turn();
  }
  CHECK(h.host.Count(602, SIGKILL, false) == 1);
  CHECK(h.host.Count(603, SIGKILL, false) == 1);
  for (pid_t kept : {leader, 601, 604, 605}) {
    CAPTURE(kept);
    CHECK(h.host.Count(kept, SIGKILL, false) == 0);
  }
}

TEST_CASE("destroying the runner releases the runs still going") {
  RunnerHarness h;
  h.Start();
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r1", 1, 1));
  h.DispatchAndAnswer(RunnerHarness::Dispatch("r2", 1, 2));
  h.runner.reset();
  CHECK(h.host.live.empty());
  CHECK(h.host.released.size() == 2);
}

}  // namespace
