// daybreak notifications failed | redeliver
//
// The notifications the notifier gave up on (a sink that refused them, or
// kept failing past the retry budget), as the broker keeps them, and
// asking for them to be sent again. The notifier picks a redelivery up at
// its next sync with the broker (notifier.dead_letter_sync_s, 5 s).
#include <date/date.h>
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <vector>

#include "cli/cli_context.h"
#include "common/team.h"
#include "common/text.h"
#include "schemas/dead_letter.h"
#include "schemas/json.h"
#include "schemas/vocabulary.h"

namespace cli {
namespace {

// "2026-12-04T21:07:03Z": UTC, so one table reads the same on every host.
std::string Utc(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return date::format("%FT%TZ", std::chrono::floor<std::chrono::seconds>(
                                    date::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(unix_ms))));
}

void PrintTable(const std::vector<schemas::DeadLetter>& letters, std::int64_t total) {
  if (letters.empty()) {
    fmt::print("no failed notifications: every sink has taken every event it was given\n");
    return;
  }
  constexpr const char* kLine = "{:<16} {:>8}  {:<26} {:<12} {:<8} {:>5}  {:<20}  {}\n";
  fmt::print(kLine, "SINK", "SEQ", "EVENT", "RUN", "TEAM", "TRIES", "FAILED (UTC)", "REASON");
  bool pending = false;
  for (const schemas::DeadLetter& d : letters) {
    // The reason is the sink's or the server's words: one line, escaped.
    std::string reason = common::Printable(d.reason);
    if (d.redeliver) {
      reason = "(redelivery pending) " + reason;
      pending = true;
    }
    fmt::print(kLine, d.sink, d.seq, d.topic, d.run_id.empty() ? "-" : d.run_id,
               d.run_id.empty() && d.team == 0 ? "-" : common::TeamLabel(d.team), d.attempts,
               Utc(d.failed_unix_ms), reason);
  }
  if (pending) fmt::print("(redelivery pending): asked for again; the notifier sends it within seconds\n");
  if (total > static_cast<std::int64_t>(letters.size())) {
    fmt::print(stderr, "daybreak notifications failed: the newest {} of {} shown; raise --limit\n",
               letters.size(), total);
  }
}

}  // namespace

void AddNotificationCommands(CLI::App& app, Context& ctx, int* result) {
  CLI::App* group = app.add_subcommand(
      "notifications", "the notifications the notifier gave up on, and sending them again");
  group->require_subcommand(1);

  struct FailedArgs {
    std::string sink;
    std::uint32_t limit = 50;
  };
  auto fargs = std::make_shared<FailedArgs>();
  CLI::App* failed = group->add_subcommand(
      "failed",
      "list the notifications a sink gave up on (refused, or still failing after the retry\n"
      "budget), by sink then seq: the event, its run and team, how often it was tried, when\n"
      "it was given up (UTC) and the last error. Exit 0 even when there are none");
  failed->add_option("--sink", fargs->sink, "only this destination (e.g. slack, webhook, email.team2)");
  failed->add_option("--limit", fargs->limit, "at most this many, the newest failures (default 50)")
      ->check(CLI::Range(1, 10000));
  failed->callback([&ctx, result, fargs] {
    if (!fargs->sink.empty()) {
      if (auto s = schemas::ValidateSinkName(fargs->sink); !s.ok()) {
        fmt::print(stderr, "daybreak notifications failed: --sink: {}\n", s.message());
        return void(*result = kExitUsage);
      }
    }
    if (!ctx.Init()) return void(*result = kExitUsage);
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kNotificationsFailed);
    request.sink = fargs->sink;
    request.limit = fargs->limit;
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& d : reply->dead_letters) list.push_back(schemas::ToJson(d));
      PrintJson(list);
      return;
    }
    const auto total = reply->stats.find("total");
    PrintTable(reply->dead_letters, total == reply->stats.end() ? 0 : total->second);
  });

  struct RedeliverArgs {
    bool all = false;
    std::string sink;
    std::vector<std::uint64_t> seqs;
  };
  auto rargs = std::make_shared<RedeliverArgs>();
  CLI::App* redeliver = group->add_subcommand(
      "redeliver",
      "ask the notifier to send failed notifications again (see `notifications failed`).\n"
      "Say which: --all, --sink S (that destination's), --seq N... (those events; with\n"
      "--sink only that destination's). One that fails again is listed again");
  auto* all = redeliver->add_flag("--all", rargs->all, "every failed notification");
  auto* sink = redeliver->add_option("--sink", rargs->sink, "only this destination's");
  auto* seq = redeliver->add_option("--seq", rargs->seqs, "only these events (repeatable, or several)")
                  ->check(CLI::PositiveNumber);
  all->excludes(sink)->excludes(seq);
  redeliver->callback([&ctx, result, rargs] {
    if (!rargs->all && rargs->sink.empty() && rargs->seqs.empty()) {
      // Nothing is sent again by accident.
      fmt::print(stderr, "daybreak notifications redeliver: say which: --all, --sink S or --seq N\n");
      return void(*result = kExitUsage);
    }
    if (!rargs->sink.empty()) {
      if (auto s = schemas::ValidateSinkName(rargs->sink); !s.ok()) {
        fmt::print(stderr, "daybreak notifications redeliver: --sink: {}\n", s.message());
        return void(*result = kExitUsage);
      }
    }
    if (!ctx.Init()) return void(*result = kExitUsage);
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kNotificationsRedeliver);
    request.sink = rargs->sink;
    request.seqs = rargs->seqs;
    request.requested_by = "daybreak-cli";
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& d : reply->dead_letters) list.push_back(schemas::ToJson(d));
      PrintJson({{"ok", true}, {"message", reply->message}, {"dead_letters", list}});
      return;
    }
    fmt::print("{}\n", reply->message);
  });
}

}  // namespace cli
