// daybreak admin reload: the broker reads its configuration file again.
#include <fmt/format.h>

#include "cli/cli_context.h"

namespace cli {

void AddAdminCommands(CLI::App& app, Context& ctx, int* result) {
  CLI::App* admin = app.add_subcommand("admin", "the broker's own upkeep");
  admin->require_subcommand(1);
  admin->add_subcommand(
           "reload",
           "make the broker read its configuration file again, as SIGHUP does: keys, dashboard\n"
           "tokens, retry and team defaults, log level. A file that does not load or check\n"
           "changes nothing and the error says why (exit 1). Needs a key for every team.")
      ->callback([&ctx, result] {
        schemas::ControlRequest request;
        request.op = std::string(schemas::op::kAdminReload);
        if (!ctx.Init()) { *result = kExitUsage; return; }
        auto reply = ctx.Call(request, result);
        if (!reply) return;
        if (ctx.json) {
          PrintJson({{"ok", true}, {"changed", reply->message}});
        } else {
          fmt::print("reloaded: {}\n", reply->message);
        }
      });
}

}  // namespace cli
