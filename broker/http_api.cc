#include "broker/http_api.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <charconv>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "broker/dashboard_html.h"
#include "broker/http_reply.h"
#include "broker/run_order.h"
#include "common/schedule.h"
#include "schemas/json.h"

namespace broker {

namespace {

// The broker's "stats" figures as Prometheus series: gauges for what is,
// counters (since the broker started) for what happened, each under its
// own name; a figure this table does not know yet is still exported, as
// daybreak_broker_figure{figure="..."}, rather than dropped.
void AddFigures(prometheus::Registry& registry, const std::map<std::string, std::int64_t>& stats) {
  struct Named {
    const char* name;
    const char* help;
    bool counter;
  };
  static const std::map<std::string, Named> kNames = {
      {"active_runs", {"daybreak_active_runs", "Runs not yet ended (accepted, queued, out, waiting to retry)", false}},
      {"queued_runs", {"daybreak_queued_runs", "Runs waiting behind their team's active run (overlap = queue)", false}},
      {"runners", {"daybreak_runners_connected", "Runners that said hello and are not silent", false}},
      {"last_seq", {"daybreak_event_seq", "The newest event's seq in the event log", false}},
      {"store_errors", {"daybreak_store_errors", "1 when the store failed a write (the broker stops)", false}},
      {"stale_results", {"daybreak_stale_results_total", "Results and leases of attempts that were no longer current", true}},
      {"duplicates", {"daybreak_duplicate_dues_total", "Due events and triggers for a run key already known", true}},
      {"refused_hellos", {"daybreak_refused_hellos_total", "Runner hellos refused for their protocol", true}},
      {"redispatches", {"daybreak_redispatches_total", "Dispatches sent again to a runner that reconnected without them", true}},
      {"bad_frames", {"daybreak_bad_frames_total", "Frames dropped as malformed or forged", true}},
      {"forwarded", {"daybreak_bus_frames_forwarded_total", "Bus frames passed on to subscribers", true}},
      {"held_dues", {"daybreak_held_dues_total", "Due events not taken while the disk was full", true}},
      {"refused_keys", {"daybreak_refused_keys_total", "Requests and frames refused for their CURVE key", true}},
      {"backup_failures", {"daybreak_backup_failures_total", "Scheduled backups that failed", true}},
      {"notifier_lag_events", {"daybreak_notifier_lag_events", "Events the broker logged that the notifier has not finished delivering", false}},
      {"notifier_report_age_ms", {"daybreak_notifier_report_age_seconds", "How long ago the notifier last reported its progress", false}},
      {"notifications_failed", {"daybreak_notifications_failed", "Notifications the notifier gave up on and not yet redelivered (daybreak notifications failed)", false}},
  };
  // The notifier's report, per sink: "notifier_sink_<what>:<sink>".
  struct PerSink {
    const char* name;
    const char* help;
    bool counter;
  };
  static const std::map<std::string, PerSink> kSinks = {
      {"queued", {"daybreak_notifier_queue_depth", "Notifications waiting in the sink's queue", false}},
      {"delivered", {"daybreak_notifier_deliveries_total", "Notifications the sink delivered (since the notifier started)", true}},
      {"retries", {"daybreak_notifier_retries_total", "Failed deliveries the sink retried", true}},
      {"undeliverable", {"daybreak_notifier_undeliverable_total", "Notifications the sink gave up on", true}},
  };
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> sink_gauges;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> sink_counters;
  prometheus::Family<prometheus::Gauge>* other = nullptr;
  for (const auto& [figure, value] : stats) {
    if (figure == "no_space") continue;  // daybreak_broker_degraded
    if (figure.starts_with("notifier_sink_") && figure.find(':') != std::string::npos) {
      const std::string what = figure.substr(14, figure.find(':') - 14);
      const std::string sink = figure.substr(figure.find(':') + 1);
      const auto known = kSinks.find(what);
      if (known == kSinks.end()) continue;
      if (known->second.counter) {
        auto*& family = sink_counters[what];
        if (family == nullptr) {
          family = &prometheus::BuildCounter().Name(known->second.name).Help(known->second.help).Register(registry);
        }
        family->Add({{"sink", sink}}).Increment(static_cast<double>(value));
      } else {
        auto*& family = sink_gauges[what];
        if (family == nullptr) {
          family = &prometheus::BuildGauge().Name(known->second.name).Help(known->second.help).Register(registry);
        }
        family->Add({{"sink", sink}}).Set(static_cast<double>(value));
      }
      continue;
    }
    const auto named = kNames.find(figure);
    if (named == kNames.end()) {
      if (other == nullptr) {
        other = &prometheus::BuildGauge().Name("daybreak_broker_figure")
                     .Help("Broker figures without a metric of their own").Register(registry);
      }
      other->Add({{"figure", figure}}).Set(static_cast<double>(value));
    } else if (named->second.counter) {
      prometheus::BuildCounter().Name(named->second.name).Help(named->second.help)
          .Register(registry).Add({}).Increment(static_cast<double>(value));
    } else {
      // Prometheus's unit is the second; the figure is in milliseconds.
      const double scale = figure.ends_with("_ms") ? 1e-3 : 1.0;
      prometheus::BuildGauge().Name(named->second.name).Help(named->second.help)
          .Register(registry).Add({}).Set(static_cast<double>(value) * scale);
    }
  }
}

constexpr auto kControlTimeout = std::chrono::milliseconds(2000);

// httplib gives each connection a worker for as long as it is open, and
// holds an idle one for its keep-alive timeout (5 s by default) with, on
// two cores, 8 workers: 50 idle clients kept /healthz waiting 53 s. So more
// workers than a dashboard and a few scrapers need, and short timeouts
// after which a silent or slow client gives its worker back.
constexpr std::size_t kHttpWorkers = 64;
constexpr time_t kKeepAliveSeconds = 2;
constexpr std::size_t kKeepAliveRequests = 100;
constexpr time_t kReadSeconds = 2;
constexpr time_t kWriteSeconds = 5;

// The whole of `text` as a number, or nothing ("5x", "-1" and "" are not).
template <typename T>
std::optional<T> ParseWhole(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The query parameter `name` (`fallback` when absent); nothing after a 400
// reply naming it when it is not a whole number.
std::optional<std::uint32_t> ParamU32(const httplib::Request& req, httplib::Response& res,
                                      const char* name, std::uint32_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  std::optional<std::uint32_t> value = ParseWhole<std::uint32_t>(text);
  if (!value) {
    SendJson(res, {{"ok", false},
                   {"error", std::string("query parameter ") + name + "=\"" + text +
                                 "\" is not a whole number"}},
             400);
  }
  return value;
}

// A team as /api/teams shows it: its settings, its tally (streak, last
// success) and its next fire by the clock (null when paused or run after
// other teams), in both epoch milliseconds and UTC text.
nlohmann::json TeamJson(const schemas::TeamRecord& t, const schemas::TeamTally& tally,
                        std::chrono::sys_seconds now) {
  nlohmann::json j = schemas::ToJson(t);
  j["consecutive_failures"] = tally.consecutive_failures;
  j["last_success_unix_ms"] = nullptr;
  j["last_success_utc"] = nullptr;
  if (tally.last_success_unix_ms > 0) {
    j["last_success_unix_ms"] = tally.last_success_unix_ms;
    j["last_success_utc"] = common::FormatUtc(std::chrono::floor<std::chrono::seconds>(
        std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(tally.last_success_unix_ms))));
  }
  j["next_fire_unix_ms"] = nullptr;
  j["next_fire_utc"] = nullptr;
  auto time = common::ParseTimeOfDay(t.run_time);
  auto zone = common::FindZone(t.timezone);
  if (!t.paused && t.after.empty() && time.ok() && zone.ok()) {
    const common::Fire next = common::NextFireAfter({time.value(), zone.value()}, now);
    j["next_fire_unix_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(next.at.time_since_epoch()).count();
    j["next_fire_utc"] = common::FormatUtc(next.at);
  }
  return j;
}

}  // namespace

HttpApi::HttpApi(zmq::context_t& context, std::string control_endpoint,
                 schemas::ControlClient::SocketSetup setup)
    : server_(std::make_unique<httplib::Server>()),
      control_(context, std::move(control_endpoint), std::move(setup)) {}

HttpApi::~HttpApi() { Stop(); }

common::Result<schemas::ControlReply> HttpApi::Ask(const schemas::ControlRequest& request) {
  std::lock_guard<std::mutex> lock(control_mutex_);
  return control_.Call(request, kControlTimeout);
}

common::Status HttpApi::Start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  const std::optional<int> port =
      colon == std::string::npos ? std::nullopt
                                 : ParseWhole<int>(std::string_view(listen).substr(colon + 1));
  if (!port || *port <= 0 || *port > 65535) {
    return common::Status::Error(common::Code::kInvalid,
                                 "http listen address \"" + listen + "\" is not host:port");
  }
  Routes();
  server_->new_task_queue = [] { return new httplib::ThreadPool(kHttpWorkers); };
  server_->set_keep_alive_timeout(kKeepAliveSeconds);
  server_->set_keep_alive_max_count(kKeepAliveRequests);
  server_->set_read_timeout(kReadSeconds);
  server_->set_write_timeout(kWriteSeconds);
  // SO_REUSEADDR only, not httplib's default SO_REUSEPORT as well: a second
  // broker given the same port must fail here, not share the port.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::string host = listen.substr(0, colon);
  if (!server_->bind_to_port(host, *port)) {
    return common::Status::Error(common::Code::kIoError, "cannot listen for HTTP on " + listen);
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_.store(true);
  });
  spdlog::info("http: dashboard, /healthz, /metrics and /api on http://{} ({}{})", listen,
               ActionsOn() ? "actions need an operator token" : "read-only: no operator token",
               ReadNeedsToken() ? "; reads need a token" : "");
  return common::Status();
}

void HttpApi::Stop() {
  if (thread_.joinable()) {
    // httplib's stop() does nothing until its thread is listening: a Stop
    // right after Start must wait for that (or for the listener to have
    // given up), or the join would wait forever.
    while (!server_->is_running() && !listen_returned_.load()) std::this_thread::yield();
    server_->stop();
    thread_.join();
  }
}

void HttpApi::Routes() {
  // GET and HEAD everywhere, POST on the action paths only; any other
  // method is refused before routing. Reads of /api/* need a token when a
  // read token is set (/api/access tells the page whether, and what it may do).
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool action = IsActionPath(req.path);
    if (req.method == "GET" || req.method == "HEAD") {
      if (!req.path.starts_with("/api/") || req.path == "/api/access" || MayRead(req, res)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST" && action) return httplib::Server::HandlerResponse::Unhandled;
    const bool read_too = !action || req.path == "/api/runs";
    res.set_header("Allow", action ? (read_too ? "GET, HEAD, POST" : "POST") : "GET, HEAD");
    SendRefusal(res, 405, "method " + req.method + " not allowed on " + req.path +
                              (action ? "" : ": it is read-only"));
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Get("/api/access", [this](const httplib::Request& req, httplib::Response& res) {
    const common::HttpGrant* grant = GrantOf(req);
    nlohmann::json teams = nullptr;  // every team
    if (grant != nullptr && !grant->teams.empty()) teams = grant->teams;
    SendJson(res, {{"actions", !ActionsOn() ? "off" : grant != nullptr && grant->operate ? "allowed" : "locked"},
                   {"read_needs_token", ReadNeedsToken()},
                   {"token", grant != nullptr ? grant->name : "none"},
                   {"role", grant == nullptr ? "none" : grant->operate ? "operate" : "read"},
                   {"teams", teams}});
  });
  ActionRoutes();
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kDashboardHtml), "text/html; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest ping;
    ping.op = std::string(schemas::op::kPing);
    auto reply = Ask(ping);
    if (!reply.ok()) return SendJson(res, {{"ok", false}, {"error", reply.status().message()}}, 503);
    const auto& stats = reply.value().stats;
    if (auto full = stats.find("no_space"); full != stats.end() && full->second != 0) {
      // Alive and answering reads, but taking no new work.
      return SendJson(res,
                      {{"ok", false},
                       {"status", "degraded: no space"},
                       {"error", "the broker's disk is full: it refuses new runs until space returns"},
                       {"last_seq", reply.value().last_seq}},
                      503);
    }
    SendJson(res, {{"ok", true}, {"status", "ok"}, {"last_seq", reply.value().last_seq}});
  });
  server_->Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest stats;
    stats.op = std::string(schemas::op::kStats);
    auto reply = Ask(stats);
    if (!reply.ok()) return SendError(res, reply.status());
    SendJson(res, reply.value().stats);
  });
  server_->Get("/api/teams", [this](const httplib::Request& req, httplib::Response& res) {
    schemas::ControlRequest list;
    list.op = std::string(schemas::op::kTeamsList);
    auto reply = Ask(list);
    if (!reply.ok()) return SendError(res, reply.status());
    const common::HttpGrant* grant = GrantOf(req);
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    std::unordered_map<std::uint32_t, schemas::TeamTally> tallies;  // a broker may have 100k teams
    for (const auto& tally : reply.value().tallies) tallies[tally.team] = tally;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : reply.value().teams) {
      if (grant != nullptr && !grant->MayActFor(t.id)) continue;
      const auto tally = tallies.find(t.id);
      out.push_back(TeamJson(t, tally != tallies.end() ? tally->second : schemas::TeamTally{t.id}, now));
    }
    SendJson(res, out);
  });
  server_->Get("/api/runners", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest stats;
    stats.op = std::string(schemas::op::kStats);
    auto reply = Ask(stats);
    if (!reply.ok()) return SendError(res, reply.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : reply.value().runners) out.push_back(schemas::ToJson(r));
    SendJson(res, out);
  });
  server_->Get("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    schemas::ControlRequest list;
    list.op = std::string(schemas::op::kRunsList);
    const std::optional<std::uint32_t> limit = ParamU32(req, res, "limit", 100);
    if (!limit) return;
    list.limit = *limit;
    // The teams to list: the one asked for, else every team, which for a
    // token bound to teams is its teams.
    std::vector<std::optional<std::uint32_t>> teams = {std::nullopt};
    if (req.has_param("team")) {
      const std::optional<std::uint32_t> team = ParamU32(req, res, "team", 0);
      if (!team || !MaySee(req, res, *team)) return;
      teams = {*team};
    } else if (const common::HttpGrant* grant = GrantOf(req); grant != nullptr && !grant->teams.empty()) {
      teams.assign(grant->teams.begin(), grant->teams.end());
    }
    std::vector<schemas::RunRecord> runs;
    for (const std::optional<std::uint32_t>& team : teams) {
      list.all_teams = !team.has_value();
      list.team = team.value_or(0);
      auto reply = Ask(list);
      if (!reply.ok()) return SendError(res, reply.status());
      for (auto& r : reply.value().runs) runs.push_back(std::move(r));
    }
    // Each listing is cut to the limit already (0: the broker's default).
    if (teams.size() > 1) KeepNewest(runs, *limit == 0 ? runs.size() : *limit);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : runs) out.push_back(schemas::ToJson(r));
    SendJson(res, out);
  });
  server_->Get(R"(/api/runs/([A-Za-z0-9_.:-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    schemas::ControlRequest get;
    get.op = std::string(schemas::op::kRunGet);
    get.run_id = req.matches[1];
    auto reply = Ask(get);
    if (!reply.ok()) return SendError(res, reply.status());
    if (!MaySee(req, res, reply.value().run.team)) return;
    SendJson(res, schemas::ToJson(reply.value().run));
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest stats;
    stats.op = std::string(schemas::op::kStats);
    auto reply = Ask(stats);
    prometheus::Registry registry;
    auto& up = prometheus::BuildGauge().Name("daybreak_broker_up")
                   .Help("1 when the broker answered the scrape").Register(registry);
    up.Add({}).Set(reply.ok() ? 1 : 0);
    if (reply.ok()) {
      AddFigures(registry, reply.value().stats);
      const auto full = reply.value().stats.find("no_space");
      prometheus::BuildGauge().Name("daybreak_broker_degraded")
          .Help("1 while the broker is degraded, by reason (no_space: it refuses new work until "
                "space returns)")
          .Register(registry)
          .Add({{"reason", "no_space"}})
          .Set(full != reply.value().stats.end() && full->second != 0 ? 1 : 0);
      schemas::ControlRequest runs;
      runs.op = std::string(schemas::op::kRunsList);
      runs.limit = 1000;
      if (auto recent = Ask(runs); recent.ok()) {
        auto& by_state = prometheus::BuildGauge().Name("daybreak_recent_runs")
                             .Help("The last 1000 runs by state").Register(registry);
        std::map<std::string, int> counts;
        for (const auto& r : recent.value().runs) ++counts[std::string(schemas::Name(r.state))];
        for (const auto& [state, n] : counts) by_state.Add({{"state", state}}).Set(n);
      }
    }
    std::vector<prometheus::MetricFamily> families = registry.Collect();
    if (metrics_ != nullptr) {
      // What the loop counts as runs change: the same process, so its
      // series are there even when this scrape's stats were not answered.
      for (auto& family : metrics_->Collect()) families.push_back(std::move(family));
    }
    res.set_content(prometheus::TextSerializer().Serialize(families), "text/plain; version=0.0.4");
  });
}

}  // namespace broker
