// daybreak logs RUN [--follow]: a run's log, read where the runner wrote it.
// The record names the log's path on the runner's host; on that host (one
// machine, or a shared log folder) this prints it, and follows it while the
// run goes on. Elsewhere it says where the log is and prints the end the
// record keeps.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/cli_context.h"
#include "common/process.h"

namespace cli {
namespace {

// Prints what `path` holds from `*offset` on and moves `*offset` past it;
// false when the file cannot be opened.
bool PrintFrom(const std::string& path, std::streamoff* offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(*offset);
  std::string chunk(64 * 1024, '\0');
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    const auto n = in.gcount();
    std::fwrite(chunk.data(), 1, static_cast<std::size_t>(n), stdout);
    *offset += n;
  }
  std::fflush(stdout);
  return true;
}

std::optional<schemas::RunRecord> GetRun(Context& ctx, const std::string& run_id, int* result) {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kRunGet);
  request.run_id = run_id;
  auto reply = ctx.Call(request, result);
  if (!reply) return std::nullopt;
  return reply->run;
}

}  // namespace

void AddLogCommands(CLI::App& app, Context& ctx, int* result) {
  struct LogArgs {
    std::string run_id;
    bool follow = false;
  };
  auto args = std::make_shared<LogArgs>();
  CLI::App* logs = app.add_subcommand(
      "logs",
      "print a run's log from where its runner wrote it (this host, or a log folder it shares);\n"
      "elsewhere, where the log is and the end of it the run record keeps (exit 1)");
  logs->add_option("RUN_ID", args->run_id, "the run id, e.g. r0000000042")->required();
  logs->add_flag("-f,--follow", args->follow,
                 "keep printing what the run writes, through its retries, until it ends (Ctrl-C stops)");
  logs->callback([&ctx, result, args] {
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto run = GetRun(ctx, args->run_id, result);
    if (!run) return;
    const auto& stop = common::InstallStopSignals();
    std::string path;  // the log being printed
    std::streamoff offset = 0;
    while (true) {
      if (run->log_path != path && !run->log_path.empty()) {
        if (!path.empty()) fmt::print("--- attempt {}: {} ---\n", run->attempt, run->log_path);
        path = run->log_path;
        offset = 0;
      }
      if (!path.empty() && !PrintFrom(path, &offset)) {
        fmt::print(stderr,
                   "daybreak logs: {} is on runner {}'s host and not readable here; the end of it, "
                   "as the run record keeps it:\n",
                   path, run->runner_id.empty() ? "?" : run->runner_id);
        if (run->stderr_tail.empty()) {
          fmt::print(stderr, "  (none: the record keeps the end of a failed run's log)\n");
        }
        PrintQuoted(stderr, run->stderr_tail);
        *result = kExitFailed;
        return;
      }
      // Printed after the record said it ended: the log is whole.
      if (schemas::IsTerminal(run->state) || !args->follow || stop.load()) {
        if (path.empty()) {
          fmt::print(stderr, "daybreak logs: run {} has no log yet (state {})\n", run->run_id,
                     schemas::Name(run->state));
          *result = kExitFailed;
        }
        return;
      }
      // Polling a file that grows, and now and then the record: whether the
      // run ended or moved on to another attempt.
      for (int i = 0; i < 5 && !stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (!path.empty()) PrintFrom(path, &offset);
      }
      run = GetRun(ctx, args->run_id, result);
      if (!run) return;
    }
  });
}

}  // namespace cli
