// HttpApi: a real cpp-httplib client on 127.0.0.1 against the API, which
// asks a fake control socket (FakeControlServer) for its answers. Checks
// each endpoint's status and JSON shape, how a broker refusal maps to an
// HTTP status, what the API asks the broker, and the refusals that never
// reach the broker (bad query parameters, methods other than GET).
#include "broker/http_api.h"

#include <httplib.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "broker/dashboard_html.h"
#include "schemas/json.h"
#include "tests/common/fake_control_server.h"
#include "tests/support/test_process.h"

namespace broker {
namespace {

using nlohmann::json;
using schemas::ControlReply;
using schemas::ControlRequest;
using testing::FakeControlServer;
using Keys = std::set<std::string>;

ControlReply Refusal(std::string_view code, std::string error) {
  ControlReply reply;
  reply.ok = false;
  reply.code = std::string(code);
  reply.error = std::move(error);
  return reply;
}

schemas::RunRecord Run(const std::string& id, schemas::RunState state) {
  schemas::RunRecord run;
  run.run_id = id;
  run.key = "k-" + id;
  run.team = 3;
  run.kind = "manual";
  run.state = state;
  run.token = "secret-token";
  run.metrics = {{"rows", 12.5}};
  return run;
}

// Starts `api` on a port of 127.0.0.1 that was free, trying again if another
// process took it in between; returns the port.
int StartOnFreePort(HttpApi& api) {
  common::Status s;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = ::testing::FreePort();
    s = api.Start("127.0.0.1:" + std::to_string(port));
    if (s.ok()) return port;
  }
  FAIL("cannot start the HTTP API: " << s.ToString());
  return 0;
}

Keys KeysOf(const json& object) {
  Keys keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
  return keys;
}

// The value of the sample `series` (name with labels) in Prometheus text.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

// An HttpApi serving on a free port in front of a fake broker. Every
// request the broker sees is kept; answer() sets how it replies.
class Api {
 public:
  explicit Api(std::vector<common::HttpGrant> tokens = {})
      : server_(context_, "inproc://http-api-test"), api_(context_, server_.endpoint()) {
    spdlog::set_level(spdlog::level::off);
    api_.SetTokens(std::move(tokens));
    server_.set_handler([this](const ControlRequest& request) {
      std::lock_guard lock(mu_);
      seen_.push_back(request);
      return answer_ ? answer_(request) : FakeControlServer::Ok();
    });
    port_ = StartOnFreePort(api_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_connection_timeout(std::chrono::seconds(5));
    client_->set_read_timeout(std::chrono::seconds(10));
  }

  void answer(FakeControlServer::Handler handler) {
    std::lock_guard lock(mu_);
    answer_ = std::move(handler);
  }
  std::vector<ControlRequest> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  // GET `path`; fails the test if no response came.
  httplib::Result Get(const std::string& path) {
    httplib::Result res = client_->Get(path.c_str());
    REQUIRE_MESSAGE(res, "GET " << path << ": " << httplib::to_string(res.error()));
    return res;
  }
  // GET `path`, which must answer `status` with JSON; returns the body.
  json GetJson(const std::string& path, int status = 200) {
    httplib::Result res = Get(path);
    CHECK_MESSAGE(res->status == status, "GET " << path << ": " << res->body);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    return json::parse(res->body);
  }

  httplib::Client& client() { return *client_; }
  HttpApi& api() { return api_; }
  int port() const { return port_; }

 private:
  zmq::context_t context_{1};
  FakeControlServer server_;
  HttpApi api_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
  std::mutex mu_;
  FakeControlServer::Handler answer_;
  std::vector<ControlRequest> seen_;
};

// ---- the dashboard ----

TEST_CASE("/ serves the dashboard page without asking the broker") {
  Api a;
  httplib::Result res = a.Get("/");
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(res->body.find("<title>Daybreak</title>") != std::string::npos);
  CHECK(res->body.find("/api/runs?limit=100") != std::string::npos);  // what it polls
  CHECK(a.seen().empty());
}

TEST_CASE("the page's state filter, badges and cancel buttons know every run state the broker has") {
  // The page is JavaScript the compiler does not see: a renamed or new
  // state would silently drop out of the filter and lose its badge colour.
  const std::string page(kDashboardHtml);
  const std::size_t list = page.find("const STATES = [");
  REQUIRE(list != std::string::npos);
  const std::string states = page.substr(list, page.find(']', list) - list);
  for (const auto& [state, name] : schemas::kRunStates) {
    CAPTURE(name);
    CHECK(states.find("'" + std::string(name) + "'") != std::string::npos);
    CHECK(page.find("." + std::string(name)) != std::string::npos);  // its badge colour
  }
  const std::size_t active = page.find("const ACTIVE = new Set([");
  REQUIRE(active != std::string::npos);
  const std::string cancellable = page.substr(active, page.find(']', active) - active);
  for (const auto& [state, name] : schemas::kRunStates) {
    CAPTURE(name);
    CHECK((cancellable.find("'" + std::string(name) + "'") != std::string::npos) == !schemas::IsTerminal(state));
  }
}

// ---- /healthz ----

TEST_CASE("/healthz pings the broker and says ok with its last seq") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    reply.last_seq = 42;
    return reply;
  });
  const json body = a.GetJson("/healthz");
  CHECK(body == json{{"ok", true}, {"status", "ok"}, {"last_seq", 42}});
  REQUIRE(a.seen().size() == 1);
  CHECK(a.seen()[0].op == schemas::op::kPing);
}

TEST_CASE("/healthz is 503 with the reason when the broker refuses") {
  Api a;
  a.answer([](const ControlRequest&) { return Refusal(schemas::error_code::kIoError, "disk on fire"); });
  const json body = a.GetJson("/healthz", 503);
  CHECK(body == json{{"ok", false}, {"error", "disk on fire"}});
}

TEST_CASE("/healthz is 503 when no broker answers, and the API still serves afterwards") {
  zmq::context_t context(1);
  // Nothing listens on this port: the control request times out.
  HttpApi api(context, "tcp://127.0.0.1:" + std::to_string(::testing::FreePort()));
  spdlog::set_level(spdlog::level::off);
  const int port = StartOnFreePort(api);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(std::chrono::seconds(10));
  httplib::Result res = client.Get("/healthz");
  REQUIRE(res);
  CHECK(res->status == 503);
  const json body = json::parse(res->body);
  CHECK(body["ok"] == false);
  CHECK(body["error"].get<std::string>().find("no reply from the broker") != std::string::npos);
  httplib::Result page = client.Get("/");  // the HTTP side is not stuck
  REQUIRE(page);
  CHECK(page->status == 200);
}

// ---- /api/stats ----

TEST_CASE("/api/stats is the broker's stats as one JSON object") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    reply.stats = {{"active_runs", 2}, {"runners", 1}, {"last_seq", 9000000000}};
    return reply;
  });
  const json body = a.GetJson("/api/stats");
  CHECK(body == json{{"active_runs", 2}, {"runners", 1}, {"last_seq", 9000000000}});
  REQUIRE(a.seen().size() == 1);
  CHECK(a.seen()[0].op == schemas::op::kStats);
}

TEST_CASE("a broker refusal maps to an HTTP status by its code") {
  Api a;
  struct Case {
    std::string_view code;
    int status;
  };
  for (const Case c : {Case{schemas::error_code::kIoError, 503}, Case{schemas::error_code::kNotFound, 404},
                       Case{schemas::error_code::kInvalid, 400}, Case{schemas::error_code::kRejected, 400},
                       Case{schemas::error_code::kCorrupt, 400}}) {
    CAPTURE(c.code);
    a.answer([&c](const ControlRequest&) { return Refusal(c.code, "no: " + std::string(c.code)); });
    for (const std::string path : {"/api/stats", "/api/teams", "/api/runs", "/api/runs/r0000000001"}) {
      CAPTURE(path);
      const json body = a.GetJson(path, c.status);
      CHECK(body == json{{"ok", false}, {"error", "no: " + std::string(c.code)}});
    }
  }
}

// ---- /api/teams ----

TEST_CASE("/api/teams is an array of team objects") {
  Api a;
  SUBCASE("no teams: an empty array") {
    CHECK(a.GetJson("/api/teams") == json::array());
  }
  SUBCASE("each team as schemas::ToJson shows it, with its tally and next fire") {
    schemas::TeamRecord t;
    t.id = 3;
    t.name = "three";
    t.run_time = "02:30";
    t.timezone = "Europe/London";
    t.overlap = "queue";
    t.command = {"/bin/pipeline", "--fast"};
    t.after = {1, 2};
    a.answer([&t](const ControlRequest&) {
      ControlReply reply = FakeControlServer::Ok();
      reply.teams = {t, schemas::TeamRecord()};
      return reply;
    });
    const json body = a.GetJson("/api/teams");
    REQUIRE(body.is_array());
    REQUIRE(body.size() == 2);
    json settings = body[0];
    for (const char* added : {"consecutive_failures", "last_success_unix_ms", "last_success_utc",
                              "next_fire_unix_ms", "next_fire_utc"}) {
      CHECK(settings.erase(added) == 1);
    }
    CHECK(settings == schemas::ToJson(t));
    CHECK(KeysOf(settings) == Keys{"id", "name", "run_time", "timezone", "paused", "overlap",
                                   "command", "max_attempts", "timeout_s", "retry_on",
                                   "backoff_initial_s", "backoff_max_s", "after", "network", "memory_mb", "env", "created_unix_ms", "created_utc"});
    CHECK(body[0]["command"] == json{"/bin/pipeline", "--fast"});
    CHECK(body[0]["after"] == json{1, 2});
    CHECK(body[1]["id"] == 0);
    REQUIRE(a.seen().size() == 1);
    CHECK(a.seen()[0].op == schemas::op::kTeamsList);
  }
}

// ---- /api/runs ----

TEST_CASE("/api/teams adds each team's streak, last success and next fire; /api/runners lists the runners") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    schemas::TeamRecord daily, chained, paused;
    for (schemas::TeamRecord* t : {&daily, &chained, &paused}) {
      t->run_time = "02:00";
      t->timezone = "UTC";
    }
    daily.id = 3;
    chained.id = 4;
    chained.after = {3};
    paused.id = 5;
    paused.paused = true;
    reply.teams = {daily, chained, paused};
    reply.tallies = {{3, 0, 1764900000123}, {4, 2, 0}};  // none for team 5
    reply.runners = {{"runner-1", 4, {"r0000000007"}, 1500}};
    return reply;
  });
  const json teams = a.GetJson("/api/teams");
  REQUIRE(teams.size() == 3);
  // 02:00 UTC next: within a day from now, on the hour.
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
  const std::int64_t next = teams[0]["next_fire_unix_ms"].get<std::int64_t>();
  CHECK(next > now_ms - 1000);
  CHECK(next <= now_ms + 86'400'000);
  CHECK(next % 86'400'000 == 2 * 3'600'000);
  CHECK(teams[0]["next_fire_utc"].get<std::string>().ends_with("T02:00:00Z"));
  CHECK(teams[0]["consecutive_failures"] == 0);
  CHECK(teams[0]["last_success_unix_ms"] == 1764900000123);
  CHECK(teams[0]["last_success_utc"] == "2025-12-05T02:00:00Z");
  CHECK(teams[1]["next_fire_unix_ms"].is_null());  // run after team 3, not by the clock
  CHECK(teams[1]["consecutive_failures"] == 2);
  CHECK(teams[1]["last_success_unix_ms"].is_null());
  CHECK(teams[1]["last_success_utc"].is_null());
  CHECK(teams[2]["next_fire_unix_ms"].is_null());  // paused
  CHECK(teams[2]["consecutive_failures"] == 0);  // no tally: nothing finished yet

  const json runners = a.GetJson("/api/runners");
  REQUIRE(runners.size() == 1);
  CHECK(runners[0] == json{{"runner_id", "runner-1"}, {"slots", 4}, {"runs", {"r0000000007"}}, {"last_seen_ms_ago", 1500}});
  CHECK(a.seen().back().op == "stats");
}

TEST_CASE("/api/runs is an array of runs, without their dispatch tokens") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    reply.runs = {Run("r0000000002", schemas::RunState::kRunning),
                  Run("r0000000001", schemas::RunState::kFailed)};
    return reply;
  });
  const json body = a.GetJson("/api/runs");
  REQUIRE(body.is_array());
  REQUIRE(body.size() == 2);
  CHECK(body[0]["run_id"] == "r0000000002");
  CHECK(body[0]["state"] == "running");  // states travel as words
  CHECK(body[1]["state"] == "failed");
  CHECK(body[0]["metrics"] == json{{"rows", 12.5}});
  CHECK(KeysOf(body[0]) ==
        Keys{"run_id", "key", "team", "kind", "state", "pdate", "local_date", "fire_unix_ms",
             "accepted_unix_ms", "started_unix_ms", "finished_unix_ms", "next_attempt_unix_ms",
             "attempt", "max_attempts", "runner_id", "exit_code", "error", "total_loans",
             "exceptions_count", "metrics", "log_path", "requested_by", "stderr_tail", "inputs", "archived", "lock_held_until_unix_ms",
             "fire_utc", "accepted_utc", "started_utc", "finished_utc", "next_attempt_utc"});
  CHECK(body.dump().find("secret-token") == std::string::npos);
  // Unknown figures are null, not -1; times are also readable.
  CHECK(body[0]["exit_code"].is_null());
  CHECK(body[0]["total_loans"].is_null());
  CHECK(body[0]["finished_utc"].is_null());

  // Without parameters: the last 100 runs of all teams.
  REQUIRE(a.seen().size() == 1);
  const ControlRequest asked = a.seen()[0];
  CHECK(asked.op == schemas::op::kRunsList);
  CHECK(asked.limit == 100);
  CHECK(asked.all_teams);
}

TEST_CASE("/api/runs passes limit and team on to the broker") {
  Api a;
  CHECK(a.GetJson("/api/runs?limit=7&team=3") == json::array());
  CHECK(a.GetJson("/api/runs?team=0") == json::array());  // the general run is a team too
  CHECK(a.GetJson("/api/runs?limit=0") == json::array());  // 0: the broker's default
  const auto seen = a.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].limit == 7);
  CHECK_FALSE(seen[0].all_teams);
  CHECK(seen[0].team == 3);
  CHECK(seen[1].limit == 100);
  CHECK_FALSE(seen[1].all_teams);
  CHECK(seen[1].team == 0);
  CHECK(seen[2].limit == 0);
  CHECK(seen[2].all_teams);
}

TEST_CASE("/api/runs refuses a query parameter that is not a whole number, without asking the broker") {
  Api a;
  for (const std::string query : {"limit=abc", "limit=-1", "limit=5x", "limit=", "limit=99999999999",
                            "team=x", "team=3.5", "limit=10&team=general"}) {
    CAPTURE(query);
    const json body = a.GetJson(std::string("/api/runs?") + query, 400);
    CHECK(body["ok"] == false);
    const std::string error = body["error"].get<std::string>();
    CHECK(error.find("query parameter") != std::string::npos);
    CHECK(error.find(std::string(query).find("team=") != std::string::npos ? "team" : "limit") !=
          std::string::npos);
  }
  CHECK(a.seen().empty());
}

TEST_CASE("/api/runs/<id> is one run, and 404 when the broker does not know it") {
  Api a;
  a.answer([](const ControlRequest& request) {
    if (request.run_id != "r0000000005") return Refusal(schemas::error_code::kNotFound, "no such run");
    ControlReply reply = FakeControlServer::Ok();
    reply.run = Run("r0000000005", schemas::RunState::kSucceeded);
    return reply;
  });
  const json body = a.GetJson("/api/runs/r0000000005");
  CHECK(body == schemas::ToJson(Run("r0000000005", schemas::RunState::kSucceeded)));
  CHECK(body["state"] == "succeeded");
  REQUIRE(a.seen().size() == 1);
  CHECK(a.seen()[0].op == schemas::op::kRunGet);
  CHECK(a.seen()[0].run_id == "r0000000005");

  CHECK(a.GetJson("/api/runs/r0000000404", 404) == json{{"ok", false}, {"error", "no such run"}});
  // Ids with characters no run id has do not reach the broker.
  httplib::Result res = a.Get("/api/runs/a%20b");
  CHECK(res->status == 404);
  CHECK(a.seen().size() == 2);
}

// ---- /metrics ----

TEST_CASE("/metrics exposes the broker's figures and its recent runs by state") {
  Api a;
  a.answer([](const ControlRequest& request) {
    ControlReply reply = FakeControlServer::Ok();
    if (request.op == schemas::op::kStats) {
      reply.stats = {{"active_runs", 2}, {"bad_frames", 5}, {"a_new_figure", 7}};
    } else {
      reply.runs = {Run("r3", schemas::RunState::kSucceeded), Run("r2", schemas::RunState::kSucceeded),
                    Run("r1", schemas::RunState::kFailed)};
    }
    return reply;
  });
  httplib::Result res = a.Get("/metrics");
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4");
  const std::string& text = res->body;
  CHECK(text.find("# TYPE daybreak_broker_up gauge") != std::string::npos);
  CHECK(Sample(text, "daybreak_broker_up") == 1);
  CHECK(Sample(text, "daybreak_active_runs") == 2);
  CHECK(text.find("# TYPE daybreak_active_runs gauge") != std::string::npos);
  CHECK(Sample(text, "daybreak_bad_frames_total") == 5);  // since start: a counter
  CHECK(text.find("# TYPE daybreak_bad_frames_total counter") != std::string::npos);
  // A figure without a name of its own yet is exported, not dropped.
  CHECK(Sample(text, R"(daybreak_broker_figure{figure="a_new_figure"})") == 7);
  CHECK(Sample(text, R"(daybreak_recent_runs{state="succeeded"})") == 2);
  CHECK(Sample(text, R"(daybreak_recent_runs{state="failed"})") == 1);
  CHECK_FALSE(Sample(text, R"(daybreak_recent_runs{state="running"})"));

  const auto seen = a.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].op == schemas::op::kStats);
  CHECK(seen[1].op == schemas::op::kRunsList);
  CHECK(seen[1].limit == 1000);
  CHECK(seen[1].all_teams);
}

TEST_CASE("/metrics still answers when the broker does not: up is 0") {
  Api a;
  SUBCASE("stats refused: up 0 and no figures") {
    a.answer([](const ControlRequest&) { return Refusal(schemas::error_code::kIoError, "down"); });
    httplib::Result res = a.Get("/metrics");
    CHECK(res->status == 200);  // a scrape that fails would hide "up 0"
    CHECK(Sample(res->body, "daybreak_broker_up") == 0);
    CHECK(res->body.find("daybreak_active_runs") == std::string::npos);
    CHECK(res->body.find("daybreak_recent_runs") == std::string::npos);
    CHECK(a.seen().size() == 1);  // no runs asked for
  }
  SUBCASE("only the run listing refused: the figures without the runs") {
    a.answer([](const ControlRequest& request) {
      if (request.op != schemas::op::kStats) return Refusal(schemas::error_code::kIoError, "busy");
      ControlReply reply = FakeControlServer::Ok();
      reply.stats = {{"runners", 3}};
      return reply;
    });
    httplib::Result res = a.Get("/metrics");
    CHECK(res->status == 200);
    CHECK(Sample(res->body, "daybreak_broker_up") == 1);
    CHECK(Sample(res->body, "daybreak_runners_connected") == 3);
    CHECK(res->body.find("daybreak_recent_runs") == std::string::npos);
  }
}

// ---- paths and methods it does not serve ----

TEST_CASE("an unknown path is 404 and does not reach the broker") {
  Api a;
  for (const std::string path : {"/nope", "/api", "/api/run", "/api/runs/x/y", "/healthz/extra"}) {
    CAPTURE(path);
    CHECK(a.Get(path)->status == 404);
  }
  CHECK(a.seen().empty());
}

TEST_CASE("methods other than GET are 405, naming the allowed ones, and do not reach the broker") {
  Api a;
  auto check = [&](httplib::Result res, const std::string& allow) {
    REQUIRE(res);
    CHECK(res->status == 405);
    CHECK(res->get_header_value("Allow") == allow);
    const json body = json::parse(res->body);
    CHECK(body["ok"] == false);
    CHECK(body["error"].get<std::string>().find("not allowed") != std::string::npos);
  };
  check(a.client().Post("/healthz", "{}", "application/json"), "GET, HEAD");
  check(a.client().Post("/api/teams", "{}", "application/json"), "GET, HEAD");
  check(a.client().Post("/api/runs/r1", "{}", "application/json"), "GET, HEAD");
  check(a.client().Put("/api/runs", "[]", "application/json"), "GET, HEAD, POST");
  check(a.client().Delete("/api/runs/r0000000001"), "GET, HEAD");
  check(a.client().Put("/api/teams/3/pause", "", "application/json"), "POST");
  check(a.client().Patch("/api/stats", "{}", "application/json"), "GET, HEAD");
  CHECK(a.seen().empty());

  // HEAD is a GET without the body.
  httplib::Result head = a.client().Head("/");
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->body.empty());
}

// ---- actions and tokens ----

const std::string kOperator = "operator-token-0123456789";
const std::string kReader = "read-token-0123456789";
const std::string kCredit = "credit-token-0123456789";  // may act for team 3 only
std::vector<common::HttpGrant> Grants() {
  return {{"operator", kOperator, true}, {"reader", kReader, false}, {"credit", kCredit, true, {3}}};
}

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

TEST_CASE("without an operator token every action is 403 read-only and reaches no broker") {
  Api a;
  for (const std::string path : {"/api/runs", "/api/runs/r1/cancel", "/api/teams/3/pause", "/api/teams/general/resume"}) {
    CAPTURE(path);
    httplib::Result res = a.client().Post(path, Bearer("anything-at-all-here"), "{}", "application/json");
    REQUIRE(res);
    CHECK(res->status == 403);
    CHECK(json::parse(res->body)["error"].get<std::string>().find("read-only") != std::string::npos);
  }
  CHECK(a.seen().empty());
  CHECK(a.GetJson("/api/access") ==
        json{{"actions", "off"}, {"read_needs_token", false}, {"token", "none"}, {"role", "none"}, {"teams", nullptr}});
}

TEST_CASE("an action needs the operator token: none or a wrong one is 401, the read token 403") {
  Api a(Grants());
  auto post = [&](const httplib::Headers& headers) {
    httplib::Result res = a.client().Post("/api/runs", headers, "{\"team\":3}", "application/json");
    REQUIRE(res);
    return *res;
  };
  httplib::Response none = post({});
  CHECK(none.status == 401);
  CHECK(none.get_header_value("WWW-Authenticate").find("Bearer") == 0);
  CHECK(post(Bearer("operator-token-012345678")).status == 401);   // one character short
  CHECK(post(Bearer("operator-token-0123456789x")).status == 401);  // one too many
  CHECK(post({{"Authorization", "operator-token-0123456789"}}).status == 401);  // not "Bearer ..."
  httplib::Response read = post(Bearer(kReader));
  CHECK(read.status == 403);
  CHECK(json::parse(read.body)["error"].get<std::string>().find("operator token") != std::string::npos);
  CHECK(a.seen().empty());
}

TEST_CASE("POST /api/runs triggers a run as the CLI would, said to be the dashboard's; 201 new, 200 again") {
  Api a(Grants());
  bool again = false;
  a.answer([&](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    reply.run = Run("r0000000042", schemas::RunState::kAccepted);
    reply.run.team = r.team;
    reply.duplicate = again;
    return reply;
  });
  httplib::Result res = a.client().Post("/api/runs", Bearer(kOperator),
                                        R"({"team":"general","pdate":"2026-12-08","key":"k1"})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 201);
  json body = json::parse(res->body);
  CHECK(body["ok"] == true);
  CHECK(body["duplicate"] == false);
  CHECK(body["run"]["run_id"] == "r0000000042");
  CHECK_FALSE(body["run"].contains("token"));
  REQUIRE(a.seen().size() == 1);
  const ControlRequest sent = a.seen().front();
  CHECK(sent.op == "trigger");
  CHECK(sent.team == 0);
  CHECK(sent.pdate == "2026-12-08");
  CHECK(sent.key == "k1");
  CHECK(sent.requested_by == "dashboard:operator at 127.0.0.1");

  again = true;
  res = a.client().Post("/api/runs", Bearer(kOperator), R"({"team":7})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(json::parse(res->body)["duplicate"] == true);
  CHECK(a.seen().back().team == 7);

  // No body at all: the general run, today.
  res = a.client().Post("/api/runs", Bearer(kOperator), "", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(a.seen().back().team == 0);
  CHECK(a.seen().back().pdate.empty());
}

TEST_CASE("POST /api/runs refuses a body it cannot read with 400, naming the problem, without asking the broker") {
  Api a(Grants());
  for (const std::string body : {"{", "[1]", "3", R"({"team":-1})", R"({"team":"x"})", R"({"team":1.5})",
                                 R"({"pdate":3})", R"({"teem":1})", R"({"team":99999999999})"}) {
    CAPTURE(body);
    httplib::Result res = a.client().Post("/api/runs", Bearer(kOperator), body, "application/json");
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(json::parse(res->body)["ok"] == false);
  }
  CHECK(a.seen().empty());
}

TEST_CASE("POST /api/runs/<id>/cancel cancels that run; the broker's not-found is 404") {
  Api a(Grants());
  a.answer([](const ControlRequest& r) {
    if (r.run_id != "r0000000007") return Refusal("not_found", "no run " + r.run_id);
    ControlReply reply = FakeControlServer::Ok();
    reply.run = Run(r.run_id, schemas::RunState::kCancelled);
    return reply;
  });
  httplib::Result res = a.client().Post("/api/runs/r0000000007/cancel", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(json::parse(res->body)["run"]["state"] == "cancelled");
  CHECK(a.seen().back().op == "cancel");
  CHECK(a.seen().back().requested_by.find("dashboard:operator at ") == 0);
  res = a.client().Post("/api/runs/r0000000008/cancel", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 404);
}

TEST_CASE("pause and resume put the team back with only paused changed; an unknown team is 404") {
  Api a(Grants());
  schemas::TeamRecord stored;
  stored.id = 3;
  stored.name = "credit";
  stored.run_time = "04:30";
  stored.timezone = "Europe/Berlin";
  stored.after = {1, 2};
  a.answer([&](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    if (r.op == "teams.list") reply.teams = {stored};
    if (r.op == "team.put") {
      stored = r.team_record;
      reply.teams = {stored};
    }
    return reply;
  });
  httplib::Result res = a.client().Post("/api/teams/3/pause", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(json::parse(res->body)["team"]["paused"] == true);
  CHECK(stored.paused);
  CHECK(stored.name == "credit");
  CHECK(stored.run_time == "04:30");
  CHECK(stored.after == std::vector<std::uint32_t>{1, 2});
  CHECK(a.seen().back().requested_by.find("dashboard:operator at ") == 0);
  res = a.client().Post("/api/teams/3/resume", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK_FALSE(stored.paused);
  const std::size_t asked = a.seen().size();
  res = a.client().Post("/api/teams/9/pause", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(a.seen().size() == asked + 1);  // the list only: nothing put
  res = a.client().Post("/api/teams/abc/pause", Bearer(kOperator), "", "text/plain");
  REQUIRE(res);
  CHECK(res->status == 400);
}

TEST_CASE("with a read token, /api/* needs it or the operator's; the page, /healthz and /metrics stay open") {
  Api a(Grants());
  httplib::Result res = a.client().Get("/api/runs");
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(a.seen().empty());
  res = a.client().Get("/api/runs/r1", Bearer("read-token-wrong-one"));
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(a.seen().empty());
  for (const std::string& token : {kReader, kOperator, kCredit}) {
    res = a.client().Get("/api/teams", Bearer(token));
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  CHECK(a.Get("/")->status == 200);
  CHECK(a.Get("/healthz")->status == 200);
  CHECK(a.Get("/metrics")->status == 200);
  CHECK(a.GetJson("/api/access") ==
        json{{"actions", "locked"}, {"read_needs_token", true}, {"token", "none"}, {"role", "none"}, {"teams", nullptr}});
  res = a.client().Get("/api/access", Bearer(kReader));
  REQUIRE(res);
  CHECK(json::parse(res->body) ==
        json{{"actions", "locked"}, {"read_needs_token", true}, {"token", "reader"}, {"role", "read"}, {"teams", nullptr}});
  res = a.client().Get("/api/access", Bearer(kCredit));
  REQUIRE(res);
  CHECK(json::parse(res->body) == json{{"actions", "allowed"}, {"read_needs_token", true}, {"token", "credit"},
                                       {"role", "operate"}, {"teams", {3}}});
}

TEST_CASE("without a read-only token, reads stay open even when operator tokens are set") {
  Api a({{"operator", kOperator, true}});
  CHECK(a.Get("/api/runs")->status == 200);
  CHECK(a.GetJson("/api/access")["read_needs_token"] == false);
}

TEST_CASE("a token for some teams acts for those only: trigger, cancel and pause of another team are 403") {
  Api a(Grants());
  a.answer([](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    reply.run = Run(r.run_id.empty() ? "r0000000001" : r.run_id, schemas::RunState::kRunning);
    reply.run.team = r.run_id == "r0000000003" ? 3 : 4;
    reply.run.team = r.op == "trigger" ? r.team : reply.run.team;
    schemas::TeamRecord t3, t4;
    t3.id = 3;
    t4.id = 4;
    reply.teams = {t3, t4};
    return reply;
  });
  auto post = [&](const std::string& path, const std::string& body) {
    httplib::Result res = a.client().Post(path, Bearer(kCredit), body, "application/json");
    REQUIRE(res);
    return res->status;
  };
  CHECK(post("/api/runs", R"({"team":4})") == 403);
  CHECK(post("/api/runs", "{}") == 403);  // the general run is not team 3's
  CHECK(post("/api/teams/4/pause", "") == 403);
  CHECK(post("/api/runs/r0000000004/cancel", "") == 403);
  for (const ControlRequest& r : a.seen()) CHECK(r.op == "run.get");  // nothing changed
  CHECK(post("/api/runs", R"({"team":3})") == 201);
  CHECK(post("/api/teams/3/pause", "") == 200);
  CHECK(post("/api/runs/r0000000003/cancel", "") == 200);
  CHECK(a.seen().back().op == "cancel");
  CHECK(a.seen().back().requested_by.find("dashboard:credit at ") == 0);
}

TEST_CASE("a token for some teams reads those only: other teams' runs are 403, listings hold its teams") {
  // A token bound to teams 3 and 5, beside one for every team.
  std::vector<common::HttpGrant> grants = Grants();
  grants.push_back({"credit-and-risk", "credit-risk-token-0123", false, {3, 5}});
  Api a(grants);
  a.answer([](const ControlRequest& r) {
    ControlReply reply = FakeControlServer::Ok();
    // Runs r..<team><n>: team 3's r0000000031, r0000000032; team 4's r0000000041; team 5's r0000000051.
    auto run = [](const std::string& id) {
      schemas::RunRecord one = Run(id, schemas::RunState::kSucceeded);
      one.team = static_cast<std::uint32_t>(id[9] - '0');
      return one;
    };
    if (r.op == "run.get") reply.run = run(r.run_id);
    if (r.op == "runs.list") {
      for (const char* id : {"r0000000051", "r0000000041", "r0000000032", "r0000000031"}) {
        const schemas::RunRecord one = run(id);
        if ((r.all_teams || one.team == r.team) && (r.limit == 0 || reply.runs.size() < r.limit)) {
          reply.runs.push_back(one);
        }
      }
    }
    for (std::uint32_t id : {0u, 3u, 4u, 5u}) {
      schemas::TeamRecord t;
      t.id = id;
      reply.teams.push_back(t);
    }
    return reply;
  });
  auto get = [&](const std::string& path, const std::string& token) {
    httplib::Result res = a.client().Get(path, Bearer(token));
    REQUIRE_MESSAGE(res, path);
    return res;
  };
  auto ids = [](const std::string& body, const char* field) {
    std::vector<std::string> out;
    for (const auto& item : json::parse(body)) out.push_back(item[field].dump());
    return out;
  };
  const std::string token = "credit-risk-token-0123";
  // Another team's run, or a listing of another team: 403, naming the token and the team.
  auto other = get("/api/runs/r0000000041", token);
  CHECK(other->status == 403);
  CHECK(json::parse(other->body)["error"] == "token credit-and-risk may not read team 4");
  CHECK(get("/api/runs?team=4", token)->status == 403);
  CHECK(get("/api/runs?team=0", token)->status == 403);
  // Its own: one team, or its teams merged newest first and cut to the limit.
  CHECK(get("/api/runs/r0000000032", token)->status == 200);
  CHECK(ids(get("/api/runs?team=3", token)->body, "run_id") ==
        std::vector<std::string>{"\"r0000000032\"", "\"r0000000031\""});
  CHECK(ids(get("/api/runs", token)->body, "run_id") ==
        std::vector<std::string>{"\"r0000000051\"", "\"r0000000032\"", "\"r0000000031\""});
  CHECK(ids(get("/api/runs?limit=2", token)->body, "run_id") ==
        std::vector<std::string>{"\"r0000000051\"", "\"r0000000032\""});
  CHECK(ids(get("/api/teams", token)->body, "id") == std::vector<std::string>{"3", "5"});
  // A token for every team reads everything.
  CHECK(ids(get("/api/runs", kReader)->body, "run_id").size() == 4);
  CHECK(ids(get("/api/teams", kReader)->body, "id").size() == 4);
  CHECK(get("/api/runs/r0000000041", kOperator)->status == 200);
}

// ---- Start and Stop ----

TEST_CASE("Start refuses an address that is not host:port") {
  zmq::context_t context(1);
  HttpApi api(context, "inproc://nobody");
  for (const std::string listen : {"", "8080", "localhost", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:80x",
                             "127.0.0.1:0", "127.0.0.1:-1", "127.0.0.1:65536"}) {
    CAPTURE(listen);
    const common::Status s = api.Start(listen);
    CHECK(s.code() == common::Code::kInvalid);
    CHECK(s.message() == "http listen address \"" + std::string(listen) + "\" is not host:port");
  }
}

TEST_CASE("Start reports a port it cannot listen on, naming the address") {
  Api a;
  zmq::context_t context(1);
  HttpApi second(context, "inproc://nobody");
  const std::string taken = "127.0.0.1:" + std::to_string(a.port());
  const common::Status s = second.Start(taken);
  CHECK(s.code() == common::Code::kIoError);
  CHECK(s.message() == "cannot listen for HTTP on " + taken);
  CHECK(a.Get("/")->status == 200);  // the first one is unharmed
}

TEST_CASE("Stop closes the port, and is safe twice or without Start") {
  {
    zmq::context_t context(1);
    HttpApi never_started(context, "inproc://nobody");
    never_started.Stop();
  }  // and the destructor stops again
  Api a;
  CHECK(a.Get("/")->status == 200);
  a.api().Stop();
  httplib::Client late("127.0.0.1", a.port());
  late.set_connection_timeout(std::chrono::seconds(2));
  CHECK_FALSE(late.Get("/"));
  a.api().Stop();
}

TEST_CASE("Stop right after Start returns (it does not wait for a listener that never started)") {
  // Run in a thread so a hang fails this test instead of stalling the suite.
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  std::thread worker([finished = std::move(finished)]() mutable {
    zmq::context_t context(1);
    for (int i = 0; i < 50; ++i) {
      HttpApi api(context, "inproc://nobody");
      const int port = ::testing::FreePort();
      if (api.Start("127.0.0.1:" + std::to_string(port)).ok()) api.Stop();
    }
    finished.set_value();
  });
  const bool returned = done.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  CHECK_MESSAGE(returned, "Stop hung right after Start");
  if (returned) {
    worker.join();
  } else {
    worker.detach();  // stuck in Stop; the process ends with the suite
  }
}

// ---- text that is not UTF-8 ----

TEST_CASE("/api/runs answers 200 with replacement characters for stored text that is not UTF-8") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    schemas::RunRecord run = Run("r0000000001", schemas::RunState::kFailed);
    run.requested_by = "bob \xff";
    run.error = "exit \xc3(";
    reply.runs = {run};
    reply.run = run;
    return reply;
  });
  const json body = a.GetJson("/api/runs");
  REQUIRE(body.size() == 1);
  CHECK(body[0]["requested_by"] == "bob \xef\xbf\xbd");
  CHECK(body[0]["error"] == "exit \xef\xbf\xbd(");
  const json one = a.GetJson("/api/runs/r0000000001");
  CHECK(one["requested_by"] == "bob \xef\xbf\xbd");
}

TEST_CASE("/api/teams answers 200 with replacement characters for a team name that is not UTF-8") {
  Api a;
  a.answer([](const ControlRequest&) {
    ControlReply reply = FakeControlServer::Ok();
    schemas::TeamRecord t;
    t.id = 4;
    t.name = "Caf\xe9";  // Latin-1, from a store written before release 2
    reply.teams = {t};
    return reply;
  });
  const json body = a.GetJson("/api/teams");
  REQUIRE(body.size() == 1);
  CHECK(body[0]["name"] == "Caf\xef\xbf\xbd");
}

// ---- idle clients ----

// A TCP connection to 127.0.0.1:`port` that sends `bytes` and then nothing.
int IdleConnection(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  if (!bytes.empty()) REQUIRE(::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  return fd;
}

TEST_CASE("50 idle or half-sent connections do not keep /healthz waiting (answered within 5 s)") {
  Api a;
  std::vector<int> idle;
  struct CloseAll {
    std::vector<int>& fds;
    ~CloseAll() {
      for (int fd : fds) ::close(fd);
    }
  } close_all{idle};
  for (int i = 0; i < 50; ++i) {
    // Half connect and say nothing; half send the start of a request.
    idle.push_back(IdleConnection(a.port(), i % 2 == 0 ? "" : "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  }
  httplib::Client client("127.0.0.1", a.port());
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  const auto start = std::chrono::steady_clock::now();
  httplib::Result res = client.Get("/healthz");
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_MESSAGE(res, "GET /healthz: " << httplib::to_string(res.error()));
  CHECK(res->status == 200);
  CHECK(took < std::chrono::seconds(5));
}

}  // namespace
}  // namespace broker
