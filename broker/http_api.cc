#include "broker/http_api.h"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "broker/dashboard_html.h"
#include "schemas/json.h"

namespace broker {

namespace {

constexpr auto kControlTimeout = std::chrono::milliseconds(2000);

void SendJson(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void SendError(httplib::Response& res, const common::Status& s) {
  const int status = s.code() == common::Code::kIoError    ? 503
                     : s.code() == common::Code::kNotFound ? 404
                                                           : 400;
  SendJson(res, {{"ok", false}, {"error", s.message()}}, status);
}

std::uint32_t ParamU32(const httplib::Request& req, const char* name, std::uint32_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  std::uint32_t value = fallback;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
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
  int port = 0;
  if (colon == std::string::npos ||
      std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port).ec != std::errc() ||
      port <= 0 || port > 65535) {
    return common::Status::Error(common::Code::kInvalid,
                                 "http listen address \"" + listen + "\" is not host:port");
  }
  Routes();
  const std::string host = listen.substr(0, colon);
  if (!server_->bind_to_port(host, port)) {
    return common::Status::Error(common::Code::kIoError, "cannot listen for HTTP on " + listen);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  spdlog::info("http: dashboard, /healthz, /metrics and /api on http://{}", listen);
  return common::Status();
}

void HttpApi::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

void HttpApi::Routes() {
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kDashboardHtml), "text/html; charset=utf-8");
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest ping;
    ping.op = std::string(schemas::op::kPing);
    auto reply = Ask(ping);
    if (!reply.ok()) return SendJson(res, {{"ok", false}, {"error", reply.status().message()}}, 503);
    SendJson(res, {{"ok", true}, {"last_seq", reply.value().last_seq}});
  });
  server_->Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest stats;
    stats.op = std::string(schemas::op::kStats);
    auto reply = Ask(stats);
    if (!reply.ok()) return SendError(res, reply.status());
    SendJson(res, reply.value().stats);
  });
  server_->Get("/api/teams", [this](const httplib::Request&, httplib::Response& res) {
    schemas::ControlRequest list;
    list.op = std::string(schemas::op::kTeamsList);
    auto reply = Ask(list);
    if (!reply.ok()) return SendError(res, reply.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : reply.value().teams) out.push_back(schemas::ToJson(t));
    SendJson(res, out);
  });
  server_->Get("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    schemas::ControlRequest list;
    list.op = std::string(schemas::op::kRunsList);
    list.limit = ParamU32(req, "limit", 100);
    if (req.has_param("team")) {
      list.all_teams = false;
      list.team = ParamU32(req, "team", 0);
    }
    auto reply = Ask(list);
    if (!reply.ok()) return SendError(res, reply.status());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : reply.value().runs) out.push_back(schemas::ToJson(r));
    SendJson(res, out);
  });
  server_->Get(R"(/api/runs/([A-Za-z0-9_.:-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    schemas::ControlRequest get;
    get.op = std::string(schemas::op::kRunGet);
    get.run_id = req.matches[1];
    auto reply = Ask(get);
    if (!reply.ok()) return SendError(res, reply.status());
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
      auto& gauges = prometheus::BuildGauge().Name("daybreak_broker")
                         .Help("Broker figures: active runs, runners, event seq, and counters since start")
                         .Register(registry);
      for (const auto& [name, value] : reply.value().stats) {
        gauges.Add({{"figure", name}}).Set(static_cast<double>(value));
      }
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
    res.set_content(prometheus::TextSerializer().Serialize(registry.Collect()),
                    "text/plain; version=0.0.4");
  });
}

}  // namespace broker
