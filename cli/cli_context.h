// What every `daybreak` subcommand shares: configuration, the ZeroMQ
// context, a control client, and the way results are printed.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "schemas/control_client.h"

namespace cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;   // the broker refused, or a run failed
inline constexpr int kExitUsage = 2;    // bad flags or configuration
inline constexpr int kExitUnavailable = 3;  // the broker did not answer

struct Context {
  std::string config_path;
  bool json = false;
  int timeout_ms = 5000;
  common::Config config;
  std::unique_ptr<zmq::context_t> zmq;
  std::unique_ptr<schemas::ControlClient> control;

  // Loads configuration and connects; prints the problem and returns false.
  bool Init();
  // Sends a request; prints an error and returns nullopt on failure, with
  // `exit_code` set to kExitFailed or kExitUnavailable.
  std::optional<schemas::ControlReply> Call(const schemas::ControlRequest& request,
                                            int* exit_code);
};

// A team as people type it: "general" (team 0) or a positive integer. On a
// bad value prints why (prefixed by `command`), sets *result and returns
// nullopt.
std::optional<std::uint32_t> ParseTeamArg(const std::string& text, const char* command,
                                          int* result);
// A JSON array of run records, one line.
void PrintRunsJson(const std::vector<schemas::RunRecord>& runs);

// "2026-11-29 02:00:03" in the machine's zone, or "-" for 0.
std::string FormatTime(std::int64_t unix_ms);
void PrintJson(const nlohmann::json& j);
// `text` (a pipeline's words) line by line as "  | <line>", each line
// escaped so it cannot pose as output of ours.
void PrintQuoted(std::FILE* to, std::string_view text);

// Registration of each command group; each sets `*result` when it runs.
void AddRunCommands(CLI::App& app, Context& ctx, int* result);
void AddTeamCommands(CLI::App& app, Context& ctx, int* result);
void AddBusCommands(CLI::App& app, Context& ctx, int* result);
void AddBackupCommands(CLI::App& app, Context& ctx, int* result);
void AddAdminCommands(CLI::App& app, Context& ctx, int* result);
void AddLogCommands(CLI::App& app, Context& ctx, int* result);
void AddNotificationCommands(CLI::App& app, Context& ctx, int* result);

}  // namespace cli
