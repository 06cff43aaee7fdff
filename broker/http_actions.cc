// The dashboard's actions over HTTP: trigger, cancel, pause and resume, each
// a POST behind the operator token, each sent to the broker as the control
// request the CLI would send (so the broker's audit log records it like any
// other change). And who may read: the read token, when one is set.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <regex>

#include "broker/http_api.h"
#include "broker/http_reply.h"
#include "common/team.h"
#include "schemas/json.h"

namespace broker {

namespace {

// Compares in time that does not depend on where the texts differ, so a
// caller cannot learn the token a character at a time.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}

// httplib matches a route's pattern against the whole path.
constexpr const char* kRunAction = R"(/api/runs/([A-Za-z0-9_.:-]+)/cancel)";
constexpr const char* kTeamAction = R"(/api/teams/([A-Za-z0-9]+)/(pause|resume))";
const std::regex kRunActionPath(kRunAction);
const std::regex kTeamActionPath(kTeamAction);

// A team as the API takes it: an id, or 0 or "general" for the general run.
common::Result<std::uint32_t> TeamOf(std::string_view text) {
  if (text == "0" || text == "general") return common::kGeneralTeam;
  return common::ParseTeamId(text);
}

}  // namespace

// Who asked, for requested_by and the audit log: the token's name.
std::string HttpApi::Who(const httplib::Request& req) const {
  const common::HttpGrant* grant = GrantOf(req);
  return "dashboard:" + (grant ? grant->name : std::string("?")) + " at " + req.remote_addr;
}

bool HttpApi::IsActionPath(const std::string& path) {
  return path == "/api/runs" || std::regex_match(path, kRunActionPath) || std::regex_match(path, kTeamActionPath);
}

void HttpApi::SetTokens(std::vector<common::HttpGrant> grants) {
  std::lock_guard<std::mutex> lock(grants_mutex_);
  retired_grants_.push_back(grants_);
  grants_ = std::make_shared<const std::vector<common::HttpGrant>>(std::move(grants));
}

std::shared_ptr<const std::vector<common::HttpGrant>> HttpApi::Grants() const {
  std::lock_guard<std::mutex> lock(grants_mutex_);
  return grants_;
}

const common::HttpGrant* HttpApi::GrantOf(const httplib::Request& req) const {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!header.starts_with(kBearer)) return nullptr;
  const std::string_view token = std::string_view(header).substr(kBearer.size());
  const common::HttpGrant* found = nullptr;
  for (const common::HttpGrant& grant : *Grants()) {  // every one compared: no early exit to time
    if (SameSecret(token, grant.token)) found = &grant;
  }
  return found;
}

bool HttpApi::ReadNeedsToken() const {
  const auto grants = Grants();
  return std::any_of(grants->begin(), grants->end(), [](const auto& g) { return !g.operate; });
}

bool HttpApi::ActionsOn() const {
  const auto grants = Grants();
  return std::any_of(grants->begin(), grants->end(), [](const auto& g) { return g.operate; });
}

bool HttpApi::MayRead(const httplib::Request& req, httplib::Response& res) const {
  if (!ReadNeedsToken() || GrantOf(req) != nullptr) return true;
  res.set_header("WWW-Authenticate", "Bearer realm=\"daybreak\"");
  SendRefusal(res, 401, "reading the API needs a token, as \"Authorization: Bearer <token>\"");
  return false;
}

bool HttpApi::MayAct(const httplib::Request& req, httplib::Response& res,
                     std::optional<std::uint32_t> team) const {
  std::string why;
  int status = 403;
  const common::HttpGrant* grant = GrantOf(req);
  if (!ActionsOn()) {
    why = "the API is read-only: no operator token is set (broker.http_operator_token, http_tokens)";
  } else if (grant == nullptr) {
    status = 401;
    res.set_header("WWW-Authenticate", "Bearer realm=\"daybreak\"");
    why = "this needs an operator token, as \"Authorization: Bearer <token>\"";
  } else if (!grant->operate) {
    why = "token " + grant->name + " may only read; this needs an operator token";
  } else if (team && !grant->MayActFor(*team)) {
    why = "token " + grant->name + " may not act for " + common::TeamLabel(*team);
  } else {
    return true;
  }
  spdlog::warn("http: {} {} from {} refused: {}", req.method, req.path, req.remote_addr, why);
  SendRefusal(res, status, why);
  return false;
}

bool HttpApi::MaySee(const httplib::Request& req, httplib::Response& res, std::uint32_t team) const {
  const common::HttpGrant* grant = GrantOf(req);
  if (grant == nullptr || grant->MayActFor(team)) return true;
  const std::string why = "token " + grant->name + " may not read " + common::TeamLabel(team);
  spdlog::warn("http: {} {} from {} refused: {}", req.method, req.path, req.remote_addr, why);
  SendRefusal(res, 403, why);
  return false;
}

void HttpApi::ActionRoutes() {
  // Trigger: {"team": 3 or "general", "pdate": "YYYY-MM-DD", "key": "..."},
  // all optional (the general run, today's purchase date, a fresh key).
  server_->Post("/api/runs", [this](const httplib::Request& req, httplib::Response& res) {
    if (!MayAct(req, res, std::nullopt)) return;
    nlohmann::json body = nlohmann::json::object();
    if (!req.body.empty()) {
      body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (!body.is_object()) return SendRefusal(res, 400, "the body must be a JSON object like {\"team\": 3}");
    }
    schemas::ControlRequest trigger;
    trigger.op = std::string(schemas::op::kTrigger);
    trigger.requested_by = Who(req);
    for (auto it = body.begin(); it != body.end(); ++it) {
      const std::string& field = it.key();
      const nlohmann::json& value = it.value();
      if (field == "team" && (value.is_number_unsigned() || value.is_string())) {
        auto team = TeamOf(value.is_string() ? value.get<std::string>() : value.dump());
        if (!team.ok()) return SendRefusal(res, 400, "team: " + team.status().message());
        trigger.team = team.value();
      } else if (field == "pdate" && value.is_string()) {
        trigger.pdate = value.get<std::string>();
      } else if (field == "key" && value.is_string()) {
        trigger.key = value.get<std::string>();
      } else {
        return SendRefusal(res, 400, "field \"" + field + "\" is not team (an id or \"general\"), pdate or key (strings)");
      }
    }
    if (!MayAct(req, res, trigger.team)) return;
    auto reply = Ask(trigger);
    if (!reply.ok()) return SendError(res, reply.status());
    const schemas::RunRecord& run = reply.value().run;
    spdlog::info("http: {} triggered {} for {} ({})", Who(req), run.run_id, common::TeamLabel(run.team),
                 reply.value().duplicate ? "already there" : std::string(schemas::Name(run.state)));
    SendJson(res, {{"ok", true}, {"duplicate", reply.value().duplicate}, {"run", schemas::ToJson(run)}},
             reply.value().duplicate ? 200 : 201);
  });
  server_->Post(kRunAction, [this](const httplib::Request& req, httplib::Response& res) {
    if (!MayAct(req, res, std::nullopt)) return;
    if (const common::HttpGrant* grant = GrantOf(req); !grant->teams.empty()) {
      // A token for some teams: the run's team decides.
      schemas::ControlRequest get;
      get.op = std::string(schemas::op::kRunGet);
      get.run_id = req.matches[1];
      auto run = Ask(get);
      if (!run.ok()) return SendError(res, run.status());
      if (!MayAct(req, res, run.value().run.team)) return;
    }
    schemas::ControlRequest cancel;
    cancel.op = std::string(schemas::op::kCancel);
    cancel.run_id = req.matches[1];
    cancel.requested_by = Who(req);
    auto reply = Ask(cancel);
    if (!reply.ok()) return SendError(res, reply.status());
    spdlog::info("http: {} cancelled {}", Who(req), cancel.run_id);
    SendJson(res, {{"ok", true}, {"run", schemas::ToJson(reply.value().run)}});
  });
  server_->Post(kTeamAction, [this](const httplib::Request& req, httplib::Response& res) {
    if (!MayAct(req, res, std::nullopt)) return;
    const std::string which = req.matches[1];
    auto id = TeamOf(which);
    if (!id.ok()) return SendRefusal(res, 400, id.status().message());
    if (!MayAct(req, res, id.value())) return;
    const bool paused = req.matches[2] == "pause";
    schemas::ControlRequest list;
    list.op = std::string(schemas::op::kTeamsList);
    auto teams = Ask(list);
    if (!teams.ok()) return SendError(res, teams.status());
    for (schemas::TeamRecord team : teams.value().teams) {
      if (team.id != id.value()) continue;
      schemas::ControlRequest put;
      put.op = std::string(schemas::op::kTeamPut);
      put.requested_by = Who(req);
      team.paused = paused;
      put.team_record = team;
      auto reply = Ask(put);
      if (!reply.ok()) return SendError(res, reply.status());
      spdlog::info("http: {} {} {}", Who(req), paused ? "paused" : "resumed", common::TeamLabel(team.id));
      const auto& stored = reply.value().teams;
      return SendJson(res, {{"ok", true}, {"team", schemas::ToJson(stored.empty() ? team : stored.front())}});
    }
    SendRefusal(res, 404, common::TeamLabel(id.value()) + " does not exist");
  });
}

}  // namespace broker
