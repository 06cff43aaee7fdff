// daybreak: the command line for people and scripts.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>

#include "cli/cli_context.h"

int main(int argc, char** argv) {
  CLI::App app{
      "daybreak: trigger and inspect Daybreak pipeline runs, and manage team schedules.\n"
      "Talks to daybreak-broker on the control endpoint from the configuration."};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  cli::Context ctx;
  app.add_option("-c,--config", ctx.config_path,
                 "TOML configuration file (default: $DAYBREAK_CONFIG, else /etc/daybreak/daybreak.toml)")
      ->check(CLI::ExistingFile);
  app.add_flag("--json", ctx.json, "print JSON instead of text");
  app.add_option("--timeout-ms", ctx.timeout_ms, "how long to wait for the broker")
      ->check(CLI::Range(1, 600000));
  int result = cli::kExitOk;
  cli::AddRunCommands(app, ctx, &result);
  cli::AddTeamCommands(app, ctx, &result);
  cli::AddBusCommands(app, ctx, &result);
  cli::AddBackupCommands(app, ctx, &result);
  cli::AddAdminCommands(app, ctx, &result);
  cli::AddLogCommands(app, ctx, &result);
  cli::AddNotificationCommands(app, ctx, &result);
  try {
    app.parse(argc, argv);  // runs the chosen command
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitUsage;
  } catch (const std::exception& e) {
    // Our own bug, or an answer we did not expect: say so, never abort.
    fmt::print(stderr, "daybreak: failed: {}\n", e.what());
    return cli::kExitFailed;
  } catch (...) {
    fmt::print(stderr, "daybreak: failed: unknown exception\n");
    return cli::kExitFailed;
  }
  return result;
}
