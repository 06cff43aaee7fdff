// daybreak logs through the broker (run.log): the CLI reads a run's log
// from the runner that ran it, as it would from another host, byte for
// byte and in pieces; follows it to the end; and when the runner is gone
// says so and prints the end the run record keeps. Real processes.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/cluster.h"

namespace {

using testing::Cluster;

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

schemas::TeamRecord ShellTeam(std::uint32_t id, const std::string& script) {
  schemas::TeamRecord t;
  t.id = id;
  t.command = {"/bin/sh", "-c", script};
  t.max_attempts = 1;
  return t;
}

}  // namespace

TEST_CASE("daybreak logs --from-broker reads a run's log from its runner, whole") {
  testing::ClusterOptions options;
  options.runners = 1;
  options.ticker = false;
  options.notifier = false;
  Cluster cluster(options);
  // About 150 KiB: several 32 KiB chunks, the last one short.
  cluster.AddTeam(ShellTeam(5, "i=0; while [ $i -lt 3000 ]; do echo \"line $i of a long log, padded out to fifty\"; "
                               "i=$((i+1)); done; echo end-of-log"));
  cluster.AddTeam(ShellTeam(6, "echo upstream DB unreachable >&2; exit 1"));

  SUBCASE("a long log, byte for byte, in pieces") {
    const schemas::RunRecord run = cluster.WaitForTerminal(cluster.Trigger(5).run_id);
    REQUIRE(run.state == schemas::RunState::kSucceeded);
    const std::string file = ReadWhole(run.log_path);
    REQUIRE(file.size() > 4 * 32 * 1024);
    std::string out;
    REQUIRE(cluster.RunTool({"daybreak", "logs", "--from-broker", run.run_id}, &out) == 0);
    CHECK(out.size() == file.size());
    CHECK(out == file);
  }

  SUBCASE("--follow through the broker prints what comes until the run ends") {
    cluster.AddTeam(ShellTeam(7, "echo first; sleep 2; echo second"));
    const std::string id = cluster.Trigger(7).run_id;
    cluster.WaitForRun(id, [](const schemas::RunRecord& r) { return r.state == schemas::RunState::kRunning; });
    std::string out;
    REQUIRE(cluster.RunTool({"daybreak", "logs", "--follow", "--from-broker", id}, &out) == 0);
    CHECK(out.find("first\n") != std::string::npos);
    CHECK(out.find("second\n") != std::string::npos);
    CHECK(schemas::IsTerminal(cluster.WaitForTerminal(id).state));
  }

  SUBCASE("its runner gone: it says so and prints the reason the record keeps") {
    const schemas::RunRecord run = cluster.WaitForTerminal(cluster.Trigger(6).run_id);
    REQUIRE(run.state == schemas::RunState::kFailed);
    cluster.StopRunner("runner-1", SIGTERM);
    std::string out;
    // The broker may still count the runner for a heartbeat or two after
    // its bye; either way the answer is a refusal that names it.
    CHECK(cluster.RunTool({"daybreak", "logs", "--from-broker", run.run_id}, &out) == 1);
    CHECK(out.find("runner runner-1") != std::string::npos);
    CHECK(out.find("upstream DB unreachable") != std::string::npos);
  }

  SUBCASE("the control op: an offset past the end is an empty piece with the size") {
    const schemas::RunRecord run = cluster.WaitForTerminal(cluster.Trigger(6).run_id);
    schemas::ControlRequest r;
    r.op = "run.log";
    r.run_id = run.run_id;
    auto whole = cluster.Call(r);
    REQUIRE_MESSAGE(whole.ok(), whole.status().ToString());
    CHECK(std::string(whole.value().log.payload.begin(), whole.value().log.payload.end())
              .find("upstream DB unreachable") != std::string::npos);
    CHECK(whole.value().log.runner_id == "runner-1");
    CHECK(whole.value().log.path == run.log_path);
    r.offset = whole.value().log.size + 100;
    auto past = cluster.Call(r);
    REQUIRE(past.ok());
    CHECK(past.value().log.payload.empty());
    CHECK(past.value().log.size == whole.value().log.size);
  }
}
