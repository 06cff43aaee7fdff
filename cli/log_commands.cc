// daybreak logs RUN [--follow] [--attempt N] [--from-broker]: a run's log.
// The log stays on the host of the runner that ran the run. Where its path
// is readable (that host, or a log folder it shares) this reads the file;
// anywhere else it reads it through the broker (run.log), which asks the
// runner. With --follow it keeps printing through the run's retries until
// the run ends.
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

std::optional<schemas::RunRecord> GetRun(Context& ctx, const std::string& run_id, int* result) {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kRunGet);
  request.run_id = run_id;
  auto reply = ctx.Call(request, result);
  if (!reply) return std::nullopt;
  return reply->run;
}

// What one read gave: bytes (empty at the end for now), or why it failed.
struct Piece {
  std::string bytes;
  std::string error;  // non-empty: the log cannot be read this way
};

// One attempt's log, from here or through the broker.
class AttemptLog {
 public:
  AttemptLog(Context& ctx, const schemas::RunRecord& run, std::uint32_t attempt, bool via_broker)
      : ctx_(ctx), run_id_(run.run_id), attempt_(attempt), via_broker_(via_broker) {
    // The record's path is the latest attempt's; an earlier one is asked for.
    if (attempt == run.attempt) path_ = run.log_path;
    if (!via_broker_ && !std::ifstream(path_, std::ios::binary)) via_broker_ = true;
  }
  bool via_broker() const { return via_broker_; }

  // The next bytes from where the last read ended.
  Piece Read() {
    Piece piece = via_broker_ ? FromBroker() : FromFile();
    offset_ += piece.bytes.size();
    return piece;
  }

 private:
  Piece FromFile() {
    Piece piece;
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      piece.error = "cannot open " + path_;
      return piece;
    }
    in.seekg(static_cast<std::streamoff>(offset_));
    piece.bytes.resize(64 * 1024);
    in.read(piece.bytes.data(), static_cast<std::streamsize>(piece.bytes.size()));
    piece.bytes.resize(static_cast<std::size_t>(in.gcount()));
    return piece;
  }

  Piece FromBroker() {
    Piece piece;
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kRunLog);
    request.run_id = run_id_;
    request.attempt = attempt_;
    request.offset = offset_;
    auto reply = ctx_.control->Call(request, std::chrono::milliseconds(ctx_.timeout_ms + 5000));
    if (!reply.ok()) {
      piece.error = reply.status().message();
    } else if (!reply.value().ok) {
      piece.error = reply.value().error;
    } else {
      piece.bytes.assign(reply.value().log.payload.begin(), reply.value().log.payload.end());
    }
    return piece;
  }

  Context& ctx_;
  std::string run_id_;
  std::uint32_t attempt_;
  bool via_broker_;
  std::string path_;
  std::uint64_t offset_ = 0;
};

// Prints everything `log` has now; false (the reason printed) when it
// cannot be read.
bool Drain(AttemptLog& log, const schemas::RunRecord& run) {
  while (true) {
    Piece piece = log.Read();
    if (!piece.error.empty()) {
      fmt::print(stderr, "daybreak logs: {}; the end of the log, as the run record keeps it:\n",
                 piece.error);
      if (run.stderr_tail.empty()) {
        fmt::print(stderr, "  (none: the record keeps the end of a failed run's log)\n");
      }
      PrintQuoted(stderr, run.stderr_tail);
      return false;
    }
    if (piece.bytes.empty()) return true;
    std::fwrite(piece.bytes.data(), 1, piece.bytes.size(), stdout);
    std::fflush(stdout);
  }
}

struct LogArgs {
  std::string run_id;
  bool follow = false;
  std::uint32_t attempt = 0;
  bool from_broker = false;
};

int PrintLog(Context& ctx, const LogArgs& args) {
  int result = kExitOk;
  auto run = GetRun(ctx, args.run_id, &result);
  if (!run) return result;
  if (run->attempt == 0 || run->runner_id.empty()) {
    fmt::print(stderr, "daybreak logs: run {} has no log yet (state {})\n", run->run_id,
               schemas::Name(run->state));
    return kExitFailed;
  }
  if (args.attempt > run->attempt) {
    fmt::print(stderr, "daybreak logs: run {} has had {} attempt(s)\n", run->run_id, run->attempt);
    return kExitUsage;
  }
  const auto& stop = common::InstallStopSignals();
  std::uint32_t attempt = args.attempt == 0 ? run->attempt : args.attempt;
  std::optional<AttemptLog> log;  // the attempt being printed
  log.emplace(ctx, *run, attempt, args.from_broker);
  while (true) {
    if (!Drain(*log, *run)) return kExitFailed;
    // Printed after the record said it ended: the log is whole. One
    // attempt asked for by number is followed only while it is the latest.
    const bool latest = run->attempt == attempt;
    if (schemas::IsTerminal(run->state) || !args.follow || stop.load() || !latest) return kExitOk;
    // Polling a log that grows, and now and then the record: whether the
    // run ended or moved on to another attempt.
    for (int i = 0; i < 5 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!Drain(*log, *run)) return kExitFailed;
    }
    run = GetRun(ctx, args.run_id, &result);
    if (!run) return result;
    if (run->attempt != attempt) {
      if (!Drain(*log, *run)) return kExitFailed;  // the rest of the one before
      attempt = run->attempt;
      log.emplace(ctx, *run, attempt, args.from_broker);
      fmt::print("--- attempt {}: {} (runner {}) ---\n", attempt, run->log_path, run->runner_id);
    }
  }
}

}  // namespace

void AddLogCommands(CLI::App& app, Context& ctx, int* result) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* logs = app.add_subcommand(
      "logs",
      "print a run's log: from its file where the runner's log folder is readable here, else\n"
      "through the broker from the runner that ran it (when that runner is gone, the end of\n"
      "the log the run record keeps, and exit 1)");
  logs->add_option("RUN_ID", args->run_id, "the run id, e.g. r0000000042")->required();
  logs->add_flag("-f,--follow", args->follow,
                 "keep printing what the run writes, through its retries, until it ends (Ctrl-C stops)");
  logs->add_option("--attempt", args->attempt, "print this attempt's log (default: the latest)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--from-broker", args->from_broker,
                 "read through the broker even where the log's path is readable here");
  logs->callback([&ctx, result, args] {
    if (!ctx.Init()) { *result = kExitUsage; return; }
    *result = PrintLog(ctx, *args);
  });
}

}  // namespace cli
