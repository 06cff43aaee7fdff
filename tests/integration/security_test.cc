// CURVE between every component: runs work with keys; without the right
// key nobody gets an answer.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "common/security.h"
#include "schemas/codec.h"
#include "tests/support/cluster.h"

TEST_CASE("with CURVE on, runs work end to end and unknown or missing keys get nothing") {
  const auto broker = common::NewKeyPair().value();
  const auto client = common::NewKeyPair().value();
  const auto stranger = common::NewKeyPair().value();
  testing::Cluster cluster({.runners = 1, .ticker = true, .notifier = true,
                            .env = {{"DAYBREAK_CURVE_ENABLED", "true"},
                                    {"DAYBREAK_BROKER_PUBLIC_KEY", broker.public_key},
                                    {"DAYBREAK_BROKER_SECRET_KEY", broker.secret_key},
                                    {"DAYBREAK_CLIENT_PUBLIC_KEY", client.public_key},
                                    {"DAYBREAK_CLIENT_SECRET_KEY", client.secret_key},
                                    {"DAYBREAK_AUTHORIZED_CLIENTS", client.public_key}}});
  cluster.MakeSample(0, 20, "2025-06-02");
  testing::BusWatcher bus(cluster, {"run."});
  const auto run = cluster.Trigger(0);
  auto done = bus.WaitForRunEvent([&](const auto& e) { return e.run.run_id == run.run_id && e.event == "completed"; });
  REQUIRE(done.has_value());
  CHECK(done->run.total_loans == 20);

  auto ask = [&](const std::function<void(zmq::socket_t&)>& setup) {
    schemas::ControlClient control(cluster.context(), cluster.endpoint("control"), setup);
    schemas::ControlRequest ping;
    ping.op = "ping";
    return control.Call(ping, std::chrono::milliseconds(1500));
  };
  SUBCASE("a client without keys is not answered") {
    CHECK_FALSE(ask({}).ok());
  }
  SUBCASE("a client with a key not on the list is refused") {
    common::Config other;
    other.curve_enabled = true;
    other.broker_public_key = broker.public_key;
    other.client_public_key = stranger.public_key;
    other.client_secret_key = stranger.secret_key;
    CHECK_FALSE(ask([&](zmq::socket_t& s) { common::ApplyClientSecurity(s, other); }).ok());
  }
  SUBCASE("the listed key is answered") {
    CHECK(ask([&](zmq::socket_t& s) { cluster.Secure(s); }).ok());
  }
}

TEST_CASE("a bad CURVE key in the configuration stops a process with the key named") {
  testing::Cluster cluster({.runners = 0, .ticker = false, .notifier = false, .env = {}});
  const std::string config = cluster.root() + "/bad-security.toml";
  std::ofstream(config) << "[security]\ncurve_enabled = true\nbroker_public_key = \"not-a-key\"\n";
  std::string out;
  CHECK(cluster.RunTool({"daybreak-runner", "--id", "x", "--config", config}, &out) == 2);
  CHECK(out.find("security.broker_public_key must be a 40-character Z85 CURVE key") != std::string::npos);
}

TEST_CASE("a key for team 1 cannot trigger or change team 2 at the broker, and its name is requested_by") {
  const auto broker = common::NewKeyPair().value();
  const auto ops = common::NewKeyPair().value();
  const auto alice = common::NewKeyPair().value();
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false,
                            .env = {{"DAYBREAK_CURVE_ENABLED", "true"},
                                    {"DAYBREAK_BROKER_PUBLIC_KEY", broker.public_key},
                                    {"DAYBREAK_BROKER_SECRET_KEY", broker.secret_key},
                                    {"DAYBREAK_CLIENT_PUBLIC_KEY", ops.public_key},
                                    {"DAYBREAK_CLIENT_SECRET_KEY", ops.secret_key},
                                    {"DAYBREAK_AUTHORIZED_CLIENTS", ops.public_key},
                                    {"DAYBREAK_CLIENT_KEYS", alice.public_key + "=alice@1"}}});
  for (std::uint32_t id : {1u, 2u}) {
    schemas::TeamRecord team;
    team.id = id;
    team.command = {"/bin/true"};
    cluster.AddTeam(team);
  }
  common::Config as_alice;
  as_alice.curve_enabled = true;
  as_alice.broker_public_key = broker.public_key;
  as_alice.client_public_key = alice.public_key;
  as_alice.client_secret_key = alice.secret_key;
  schemas::ControlClient control(cluster.context(), cluster.endpoint("control"),
                                 [&](zmq::socket_t& s) { common::ApplyClientSecurity(s, as_alice); });
  auto trigger = [&](std::uint32_t team) {
    schemas::ControlRequest request;
    request.op = "trigger";
    request.team = team;
    request.requested_by = "mallory";  // a claim the broker does not take
    return control.Call(request, std::chrono::seconds(5));
  };
  const auto theirs = trigger(2);
  REQUIRE_FALSE(theirs.ok());
  CHECK(theirs.status().code() == common::Code::kRejected);
  CHECK(theirs.status().message().find("key alice may not trigger for team 2") != std::string::npos);
  schemas::ControlRequest pause;
  pause.op = "team.put";
  pause.team_record.id = 2;
  pause.team_record.paused = true;
  const auto changed = control.Call(pause, std::chrono::seconds(5));
  REQUIRE_FALSE(changed.ok());
  CHECK(changed.status().code() == common::Code::kRejected);

  const auto mine = trigger(1);
  REQUIRE_MESSAGE(mine.ok(), mine.status().ToString());
  CHECK(mine.value().run.requested_by == "alice");
  CHECK(cluster.WaitForTerminal(mine.value().run.run_id).state == schemas::RunState::kSucceeded);
  // The audit log has all three, with who asked.
  const std::string audit = testing::ReadFile(cluster.root() + "/var/logs/audit.jsonl");
  auto logged = [&](const std::string& op, bool ok, std::uint32_t team) {
    std::size_t start = 0;
    for (std::size_t nl; (nl = audit.find('\n', start)) != std::string::npos; start = nl + 1) {
      const auto line = nlohmann::json::parse(audit.substr(start, nl - start));
      if (line["who"] == "alice" && line["op"] == op && line["ok"] == ok && line["team"] == team) {
        return true;
      }
    }
    return false;
  };
  CHECK(logged("trigger", false, 2));
  CHECK(logged("team.put", false, 2));
  CHECK(logged("trigger", true, 1));
}

namespace {

// Every file under `dir`, as one text.
std::string AllText(const std::string& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) all += testing::ReadFile(entry.path().string());
  }
  return all;
}

}  // namespace

TEST_CASE("secrets set in the configuration appear in no log, no API answer, no --json output and no pipeline's environment") {
  const auto broker = common::NewKeyPair().value();
  const auto client = common::NewKeyPair().value();
  const std::string token = "T0KEN-in-the-webhook-url-8731";
  const std::string slack_token = "xoxb-SLACK-token-4410";
  const std::string password = "smtp-PASSWORD-5519";
  const std::string credential = "RUNNER-CREDENTIAL-2207";
  testing::TempDir secrets;
  const std::string password_file = secrets.WriteFile("smtp.secret", password + "\n");
  const std::string client_key_file = secrets.WriteFile("client.key", client.secret_key + "\n");
  const int closed_port = 9;  // discard: nothing listens there
  testing::Cluster cluster(
      {.runners = 1, .ticker = false, .notifier = true,
       .env = {{"DAYBREAK_CURVE_ENABLED", "true"},
               {"DAYBREAK_BROKER_PUBLIC_KEY", broker.public_key},
               {"DAYBREAK_BROKER_SECRET_KEY", broker.secret_key},
               {"DAYBREAK_CLIENT_PUBLIC_KEY", client.public_key},
               {"DAYBREAK_CLIENT_SECRET_KEY_FILE", client_key_file},
               {"DAYBREAK_AUTHORIZED_CLIENTS", client.public_key},
               {"DAYBREAK_WEBHOOK_URL", "http://127.0.0.1:" + std::to_string(closed_port) + "/hook/" + token},
               {"DAYBREAK_SLACK_WEBHOOK_URL", "http://127.0.0.1:" + std::to_string(closed_port) + "/services/" + slack_token},
               {"DAYBREAK_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(closed_port)},
               {"DAYBREAK_EMAIL_TO", "ops@example.com"},
               {"DAYBREAK_SMTP_USERNAME", "daybreak"},
               {"DAYBREAK_SMTP_PASSWORD_FILE", password_file},
               {"AWS_SECRET_ACCESS_KEY", credential}}});
  // A pipeline that prints everything it was given, and fails, so every
  // sink is asked to deliver (and fails to: nothing listens).
  schemas::TeamRecord team;
  team.id = 1;
  team.command = {"/bin/sh", "-c", "env; cat /proc/self/environ; ls -la /etc/daybreak; exit 1"};
  team.max_attempts = 1;
  cluster.AddTeam(team);
  const auto run = cluster.WaitForTerminal(cluster.Trigger(1).run_id);
  REQUIRE(run.state == schemas::RunState::kFailed);
  CHECK(run.stderr_tail.find("DAYBREAK_RUN_ID=" + run.run_id) != std::string::npos);  // it did print
  CHECK(testing::WaitForText(cluster.root() + "/logs/notifier.log", "sink webhook"));
  CHECK(testing::WaitForText(cluster.root() + "/logs/notifier.log", "sink email"));

  std::string outputs = AllText(cluster.root() + "/logs") + AllText(cluster.root() + "/var/logs");
  for (const std::vector<std::string>& cli : std::vector<std::vector<std::string>>{
           {"daybreak", "--json", "runs"},
           {"daybreak", "--json", "run", "show", run.run_id},
           {"daybreak", "run", "show", run.run_id},
           {"daybreak", "--json", "teams", "list"},
           {"daybreak", "--json", "schedule"}}) {
    std::string out;
    CHECK_MESSAGE(cluster.RunTool(cli, &out) == 0, out);
    outputs += out;
  }
  const std::string http = cluster.endpoint("http");
  httplib::Client api(http.substr(0, http.find(':')), std::stoi(http.substr(http.find(':') + 1)));
  for (const char* path : {"/api/runs", "/api/teams", "/api/stats", "/metrics", "/healthz", "/"}) {
    auto res = api.Get(path);
    REQUIRE(res);
    outputs += res->body;
  }
  for (const std::string& secret : {token, slack_token, password, credential, broker.secret_key,
                                    client.secret_key}) {
    CAPTURE(secret);
    CHECK(outputs.find(secret) == std::string::npos);
  }
}
