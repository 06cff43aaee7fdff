#include "cli/cli_context.h"

#include <date/tz.h>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>

#include "common/process.h"
#include "common/security.h"
#include "common/team.h"
#include "common/text.h"
#include "schemas/json.h"

namespace cli {

bool Context::Init() {
  auto loaded = common::LoadProcessConfig(config_path);
  if (!loaded.ok()) {
    fmt::print(stderr, "daybreak: bad configuration: {}\n", loaded.status().message());
    return false;
  }
  config = loaded.value();
  if (auto s = common::ValidateSecurity(config, /*broker=*/false); !s.ok()) {
    fmt::print(stderr, "daybreak: bad configuration: {}\n", s.message());
    return false;
  }
  zmq = std::make_unique<zmq::context_t>(1);
  control = std::make_unique<schemas::ControlClient>(
      *zmq, config.control, [this](zmq::socket_t& s) { common::ApplyClientSecurity(s, config); });
  return true;
}

std::optional<schemas::ControlReply> Context::Call(const schemas::ControlRequest& request,
                                                   int* exit_code) {
  auto reply = control->Call(request, std::chrono::milliseconds(timeout_ms));
  if (!reply.ok()) {
    const bool unavailable = reply.status().code() == common::Code::kIoError;
    *exit_code = unavailable ? kExitUnavailable : kExitFailed;
    if (json) {
      PrintJson({{"ok", false}, {"error", reply.status().message()}});
    } else {
      fmt::print(stderr, "daybreak: {}{}\n", reply.status().message(),
                 unavailable ? " (is daybreak-broker running? see scripts/run)" : "");
    }
    return std::nullopt;
  }
  return reply.value();
}

std::string FormatTime(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const auto t = std::chrono::floor<std::chrono::seconds>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(unix_ms)));
  try {
    return date::format("%F %T %Z", date::make_zoned(date::current_zone(), t));
  } catch (const std::exception&) {
    return date::format("%F %T UTC", t);
  }
}

std::optional<std::uint32_t> ParseTeamArg(const std::string& text, const char* command,
                                          int* result) {
  if (text == "general") return common::kGeneralTeam;
  auto team = common::ParseTeamId(text);
  if (!team.ok()) {
    fmt::print(stderr, "{}: {}\n", command, team.status().message());
    *result = kExitUsage;
    return std::nullopt;
  }
  return team.value();
}

void PrintRunsJson(const std::vector<schemas::RunRecord>& runs) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : runs) j.push_back(schemas::ToJson(r));
  PrintJson(j);
}

void PrintJson(const nlohmann::json& j) {
  // The broker's text may not be UTF-8: replace what is not, never throw.
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

void PrintQuoted(std::FILE* to, std::string_view text) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    fmt::print(to, "  | {}\n", common::Printable(text.substr(0, nl)));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
}

}  // namespace cli
