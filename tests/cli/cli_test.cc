// The daybreak CLI against a fake broker: what a broker should not answer
// is an error message and a non-zero exit, never an abort; what it should
// is printed as a person and a script would read it.
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/common/fake_control_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_process.h"

extern char** environ;

namespace {

using schemas::ControlReply;
using schemas::ControlRequest;
using testing::FakeControlServer;

class Cli {
 public:
  Cli() : server_(context_, "tcp://127.0.0.1:" + std::to_string(testing::FreePort())) {}

  void Answer(FakeControlServer::Handler handler) { server_.set_handler(std::move(handler)); }

  // Runs `daybreak args...`; returns its exit code (-1: did not exit), and
  // its stdout and stderr in *output.
  int Run(std::vector<std::string> args, std::string* output) {
    args.insert(args.begin(), std::string(DAYBREAK_BIN_DIR) + "/daybreak");
    args.push_back("--timeout-ms");
    args.push_back("3000");
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!std::string_view(*e).starts_with("DAYBREAK_")) env.emplace_back(*e);
    }
    env.push_back("DAYBREAK_CONTROL=" + server_.endpoint());
    const std::string log = dir_.Sub("out");
    std::filesystem::remove(log);
    testing::TestProcess p(args, env, log);
    const auto status = p.Wait(std::chrono::seconds(20));
    std::ifstream in(log);
    output->assign(std::istreambuf_iterator<char>(in), {});
    if (!status || !WIFEXITED(*status)) return -1;  // e.g. killed by SIGABRT
    return WEXITSTATUS(*status);
  }

 private:
  testing::TempDir dir_;
  zmq::context_t context_{1};
  FakeControlServer server_;
};

ControlReply TeamsReply(const std::string& timezone) {
  ControlReply reply = FakeControlServer::Ok();
  schemas::TeamRecord team;
  team.id = 3;
  team.run_time = "02:00";
  team.timezone = timezone;
  reply.teams.push_back(team);
  return reply;
}

}  // namespace

TEST_CASE("teams add: a saved reply without the team record is an error") {
  Cli cli;
  cli.Answer([](const ControlRequest&) { return FakeControlServer::Ok(); });
  std::string out;
  CHECK(cli.Run({"teams", "add", "3", "--time", "02:00", "--tz", "UTC"}, &out) == 1);
  CHECK(out.find("daybreak teams: the broker saved team 3 but sent no team record back") !=
        std::string::npos);
}

TEST_CASE("teams list and schedule: a team whose schedule cannot be read is an error") {
  Cli cli;
  cli.Answer([](const ControlRequest&) { return TeamsReply("Mars/Olympus_Mons"); });
  std::string out;
  CHECK(cli.Run({"teams", "list"}, &out) == 1);
  CHECK(out.find("daybreak teams list: the broker sent team 3 with no readable schedule") !=
        std::string::npos);
  CHECK(out.find("Mars/Olympus_Mons") != std::string::npos);
  CHECK(cli.Run({"schedule", "--days", "2"}, &out) == 1);
  CHECK(out.find("daybreak schedule: the broker sent team 3 with no readable schedule") !=
        std::string::npos);
  // The same command with a good answer works.
  cli.Answer([](const ControlRequest&) { return TeamsReply("Europe/Berlin"); });
  CHECK(cli.Run({"teams", "list"}, &out) == 0);
  CHECK(cli.Run({"schedule", "--days", "2", "--json"}, &out) == 0);
}

TEST_CASE("--json prints broker text that is not UTF-8 instead of aborting") {
  Cli cli;
  cli.Answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    schemas::RunRecord run;
    run.run_id = "r0000000001";
    run.error = "bad byte \xff here";
    reply.runs.push_back(run);
    return reply;
  });
  std::string out;
  CHECK(cli.Run({"runs", "--json"}, &out) == 0);
  CHECK(out.find("r0000000001") != std::string::npos);
}

TEST_CASE("run show --json and teams list --json print text that is not UTF-8 as replacement characters") {
  Cli cli;
  cli.Answer([](const ControlRequest&) {
    ControlReply reply = TeamsReply("Europe/Berlin");
    reply.teams[0].name = "Caf\xe9";
    reply.run.run_id = "r0000000001";
    reply.run.requested_by = "bob \xff";
    return reply;
  });
  std::string out;
  CHECK(cli.Run({"run", "show", "r0000000001", "--json"}, &out) == 0);
  CHECK(out.find("\"requested_by\":\"bob \xef\xbf\xbd\"") != std::string::npos);
  CHECK(cli.Run({"teams", "list", "--json"}, &out) == 0);
  CHECK(out.find("\"name\":\"Caf\xef\xbf\xbd\"") != std::string::npos);
}

TEST_CASE("a broker that refuses is an error message and exit 1") {
  Cli cli;
  cli.Answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Refuse("not today");
    reply.code = "rejected";
    return reply;
  });
  std::string out;
  CHECK(cli.Run({"runs"}, &out) == 1);
  CHECK(out.find("not today") != std::string::npos);
}

TEST_CASE("teams add --command is split as a shell would; --arg adds words as they are") {
  Cli cli;
  schemas::TeamRecord sent;
  cli.Answer([&sent](const ControlRequest& r) {
    sent = r.team_record;
    ControlReply reply = FakeControlServer::Ok();
    reply.teams.push_back(r.team_record);
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"teams", "add", "4", "--command", "/bin/sh -c 'sleep 4; exit 0'", "--arg", "two words"},
                  &out) == 0);
  CHECK(sent.command == std::vector<std::string>{"/bin/sh", "-c", "sleep 4; exit 0", "two words"});
  // An unclosed quote is a usage error, and nothing is sent.
  sent = schemas::TeamRecord();
  CHECK(cli.Run({"teams", "add", "4", "--command", "/bin/sh -c 'sleep 4"}, &out) == 2);
  CHECK(out.find("is not closed") != std::string::npos);
  CHECK(sent.command.empty());
}


TEST_CASE("a trigger the broker skipped says why and exits 1; a team with dependencies says so") {
  Cli cli;
  cli.Answer([](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    if (r.op == "trigger") {
      reply.run.run_id = "r0000000007";
      reply.run.team = 2;
      reply.run.state = schemas::RunState::kSkipped;
      reply.run.error = "team 2 is busy with r0000000006 (overlap skip)";
    } else {
      schemas::TeamRecord t = r.team_record;
      t.run_time = "02:00";
      t.timezone = "UTC";
      t.overlap = "skip";
      reply.teams.push_back(t);
    }
    return reply;
  });
  std::string out;
  CHECK(cli.Run({"trigger", "--team", "2"}, &out) == 1);
  CHECK(out.find("r0000000007 skipped for team 2: team 2 is busy") != std::string::npos);
  CHECK(out.find("accepted") == std::string::npos);

  REQUIRE(cli.Run({"teams", "add", "4", "--after", "1,2"}, &out) == 0);
  CHECK(out.find("team 4 saved: after team 1, team 2 succeed for a date") != std::string::npos);
  CHECK(out.find("daily at") == std::string::npos);
}

TEST_CASE("runners lists each runner's slots in use, when last heard and its runs; --json too") {
  Cli cli;
  cli.Answer([](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    CHECK(r.op == "stats");
    reply.runners.push_back({"runner-1", 4, {"r0000000007", "r0000000009"}, 1500});
    reply.runners.push_back({"runner-2", 1, {}, 200});
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"runners"}, &out) == 0);
  CHECK(out.find("RUNNER") != std::string::npos);
  CHECK(std::regex_search(out, std::regex(R"(runner-1 +2/4 +1\.5 s ago +r0000000007 r0000000009)")));
  CHECK(std::regex_search(out, std::regex(R"(runner-2 +0/1 +0\.2 s ago +-)")));
  REQUIRE(cli.Run({"runners", "--json"}, &out) == 0);
  const auto json = nlohmann::json::parse(out);
  REQUIRE(json.size() == 2);
  CHECK(json[0]["runner_id"] == "runner-1");
  CHECK(json[0]["runs"] == nlohmann::json::array({"r0000000007", "r0000000009"}));
  CHECK(json[1]["last_seen_ms_ago"] == 200);

  cli.Answer([](const ControlRequest&) { return FakeControlServer::Ok(); });
  REQUIRE(cli.Run({"runners"}, &out) == 0);
  CHECK(out.find("(no runner connected)") != std::string::npos);
}

TEST_CASE("teams list shows each team's failure streak and last success, in text and --json") {
  Cli cli;
  cli.Answer([](const ControlRequest&) {
    ControlReply reply = TeamsReply("UTC");
    schemas::TeamRecord four = reply.teams[0];
    four.id = 4;
    reply.teams.push_back(four);
    reply.tallies = {{3, 2, 0}, {4, 0, 1764900000123}};
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"teams", "list"}, &out) == 0);
  CHECK(out.find("STREAK") != std::string::npos);
  CHECK(std::regex_search(out, std::regex(R"(\n3 .* 2 failed +- +\(reference pipeline\))")));
  CHECK(std::regex_search(out, std::regex(R"(\n4 .* - +2025-12-05T02:00:00Z +\(reference pipeline\))")));
  REQUIRE(cli.Run({"teams", "list", "--json"}, &out) == 0);
  const auto json = nlohmann::json::parse(out);
  REQUIRE(json.size() == 2);
  CHECK(json[0]["consecutive_failures"] == 2);
  CHECK(json[0]["last_success_utc"] == "");
  CHECK(json[1]["last_success_utc"] == "2025-12-05T02:00:00Z");
}

TEST_CASE("logs prints a run's log where it can read it, else through the broker, follows it to the end, and says why when it cannot") {
  testing::TempDir dir;
  const std::string log = dir.WriteFile("r7.1.log", "starting\nreading the tape\n");
  const std::string remote = "on the runner's host\nin two pieces\n";
  Cli cli;
  std::atomic<int> gets{0};
  std::atomic<bool> elsewhere{false};
  std::atomic<bool> runner_gone{false};
  std::vector<std::uint64_t> offsets;  // of the run.log requests
  cli.Answer([&](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    if (r.op == "run.log") {
      CHECK(r.run_id == "r0000000007");
      CHECK(r.attempt == 1);
      offsets.push_back(r.offset);
      if (runner_gone) {
        reply.ok = false;
        reply.code = "not_found";
        reply.error = "runner runner-2 is not connected (the log is /nonexistent/r7.1.log there)";
        return reply;
      }
      // At most 20 bytes a piece, as a runner caps its chunks.
      const std::string piece = r.offset < remote.size() ? remote.substr(r.offset, 20) : "";
      reply.log.payload.assign(piece.begin(), piece.end());
      reply.log.offset = r.offset;
      reply.log.size = remote.size();
      return reply;
    }
    CHECK(r.op == "run.get");
    reply.run.run_id = "r0000000007";
    reply.run.runner_id = "runner-2";
    reply.run.attempt = 1;
    reply.run.log_path = elsewhere ? "/nonexistent/r7.1.log" : log;
    reply.run.stderr_tail = "upstream DB unreachable\n";
    // Running for the first two looks; on the third it has written its last line and ended.
    const int n = ++gets;
    reply.run.state = n < 3 ? schemas::RunState::kRunning : schemas::RunState::kFailed;
    if (n == 3) std::ofstream(log, std::ios::app) << "done: exit 1\n";
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"logs", "r0000000007", "--follow"}, &out) == 0);
  CHECK(out == "starting\nreading the tape\ndone: exit 1\n");
  CHECK(gets.load() == 3);
  CHECK(offsets.empty());  // readable here: the broker is not asked

  // Without --follow: what is there now, once.
  gets = 0;
  REQUIRE(cli.Run({"logs", "r0000000007"}, &out) == 0);
  CHECK(out == "starting\nreading the tape\ndone: exit 1\n");
  CHECK(gets.load() == 1);

  // On another host: through the broker, piece after piece, whole.
  elsewhere = true;
  REQUIRE(cli.Run({"logs", "r0000000007"}, &out) == 0);
  CHECK(out == remote);
  CHECK(offsets == std::vector<std::uint64_t>{0, 20, remote.size()});

  // --from-broker asks the broker even where the file is readable.
  elsewhere = false;
  offsets.clear();
  REQUIRE(cli.Run({"logs", "r0000000007", "--from-broker"}, &out) == 0);
  CHECK(out == remote);
  CHECK(offsets.size() == 3);

  // The runner gone: why, and the end the record keeps; exit 1.
  elsewhere = true;
  runner_gone = true;
  CHECK(cli.Run({"logs", "r0000000007"}, &out) == 1);
  CHECK(out.find("runner runner-2 is not connected (the log is /nonexistent/r7.1.log there)") != std::string::npos);
  CHECK(out.find("  | upstream DB unreachable") != std::string::npos);
}

TEST_CASE("runs --since lists only runs accepted since that UTC date, and says when the page may hide more") {
  Cli cli;
  const std::int64_t dec1 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z
  cli.Answer([dec1](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    CHECK(r.op == "runs.list");
    // Newest first, as the broker lists them.
    for (int i = 0; i < 3; ++i) {
      schemas::RunRecord run;
      run.run_id = "r000000000" + std::to_string(3 - i);
      run.team = 1;
      run.state = schemas::RunState::kSucceeded;
      run.accepted_unix_ms = dec1 + 3'600'000 - i * 3'600'000;  // 01:00 Dec 1, 00:00, 23:00 Nov 30
      reply.runs.push_back(run);
      if (reply.runs.size() == r.limit) break;
    }
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"runs", "--since", "2026-12-01", "--json"}, &out) == 0);
  const auto json = nlohmann::json::parse(out);
  REQUIRE(json.size() == 2);
  CHECK(json[0]["run_id"] == "r0000000003");
  CHECK(json[1]["run_id"] == "r0000000002");
  REQUIRE(cli.Run({"runs", "--since", "2026-12-01", "--limit", "2"}, &out) == 0);
  CHECK(out.find("r0000000002") != std::string::npos);
  CHECK(out.find("more runs since 2026-12-01 may exist; raise --limit") != std::string::npos);
  REQUIRE(cli.Run({"runs", "--since", "2026-12-02"}, &out) == 0);
  CHECK(out.find("(no runs since then)") != std::string::npos);
  CHECK(cli.Run({"runs", "--since", "yesterday"}, &out) == 2);
  CHECK(out.find("--since yesterday") != std::string::npos);
}

TEST_CASE("notifications failed is a table of sink, seq, event, run, team, tries, UTC time and reason") {
  Cli cli;
  std::vector<ControlRequest> asked;
  std::mutex mu;
  bool none = false;
  cli.Answer([&](const ControlRequest& r) {
    std::lock_guard lock(mu);
    asked.push_back(r);
    ControlReply reply = FakeControlServer::Ok();
    if (none) return reply;
    schemas::DeadLetter d;
    d.sink = "slack";
    d.seq = 42;
    d.topic = "run.failed";
    d.run_id = "r0000000007";
    d.team = 2;
    d.attempts = 10;
    d.reason = "HTTP 500\nfrom the proxy";  // a peer's words: one escaped line
    d.failed_unix_ms = 1'764'900'000'000;     // 2025-12-05 02:00:00 UTC
    d.redeliver = true;
    reply.dead_letters.push_back(d);
    reply.stats["total"] = 1;
    return reply;
  });
  std::string out;
  REQUIRE(cli.Run({"notifications", "failed", "--sink", "slack", "--limit", "5"}, &out) == 0);
  CHECK_MESSAGE(std::regex_search(out, std::regex("SINK +SEQ +EVENT +RUN +TEAM +TRIES +FAILED \\(UTC\\) +REASON")), out);
  CHECK_MESSAGE(std::regex_search(out, std::regex("slack +42 +run\\.failed +r0000000007 +team 2 +10 +2025-12-05T02:00:00Z")), out);
  CHECK(out.find("(redelivery pending) HTTP 500\\nfrom the proxy") != std::string::npos);
  {
    std::lock_guard lock(mu);
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].op == "notifications.failed");
    CHECK(asked[0].sink == "slack");
    CHECK(asked[0].limit == 5);
  }
  REQUIRE(cli.Run({"notifications", "failed", "--json"}, &out) == 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_array(), out);
  CHECK(j[0]["seq"] == 42);
  CHECK(j[0]["reason"] == "HTTP 500\nfrom the proxy");
  CHECK(j[0]["failed_utc"].is_string());
  {
    std::lock_guard lock(mu);
    none = true;
  }
  REQUIRE(cli.Run({"notifications", "failed"}, &out) == 0);
  CHECK(out.find("no failed notifications") != std::string::npos);
  CHECK(cli.Run({"notifications", "failed", "--sink", "a/b"}, &out) == 2);
}

TEST_CASE("notifications redeliver needs --all, --sink or --seq, and says how many were queued") {
  Cli cli;
  std::vector<ControlRequest> asked;
  std::mutex mu;
  cli.Answer([&](const ControlRequest& r) {
    std::lock_guard lock(mu);
    asked.push_back(r);
    ControlReply reply = FakeControlServer::Ok();
    reply.message = "2 notifications queued for redelivery";
    return reply;
  });
  std::string out;
  CHECK(cli.Run({"notifications", "redeliver"}, &out) == 2);
  CHECK(out.find("say which") != std::string::npos);
  CHECK(cli.Run({"notifications", "redeliver", "--all", "--sink", "slack"}, &out) == 2);
  {
    std::lock_guard lock(mu);
    CHECK(asked.empty());  // nothing was sent by accident
  }
  REQUIRE(cli.Run({"notifications", "redeliver", "--sink", "slack", "--seq", "4", "--seq", "9"}, &out) == 0);
  CHECK(out.find("2 notifications queued for redelivery") != std::string::npos);
  REQUIRE(cli.Run({"notifications", "redeliver", "--all"}, &out) == 0);
  CHECK(cli.Run({"notifications", "redeliver", "--help"}, &out) == 0);
  CHECK(out.find("--seq") != std::string::npos);
  std::lock_guard lock(mu);
  REQUIRE(asked.size() == 2);
  CHECK(asked[0].op == "notifications.redeliver");
  CHECK(asked[0].sink == "slack");
  CHECK(asked[0].seqs == std::vector<std::uint64_t>{4, 9});
  CHECK(asked[1].sink.empty());
  CHECK(asked[1].seqs.empty());
}
