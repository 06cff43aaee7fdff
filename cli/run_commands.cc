// daybreak trigger | runs | run show | cancel | runners
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "cli/cli_context.h"
#include "common/schedule.h"
#include "common/team.h"
#include "common/text.h"
#include "schemas/json.h"

namespace cli {
namespace {

std::string TeamColumn(std::uint32_t team) {
  return team == common::kGeneralTeam ? "general" : std::to_string(team);
}

void PrintRunLine(const schemas::RunRecord& r) {
  fmt::print("{:<12} {:<8} {:<10} {:<11} {:>3}  {:<10} {:>8} {:>6}  {}\n", r.run_id,
             TeamColumn(r.team), schemas::Name(r.state), r.pdate, r.attempt, r.kind,
             r.total_loans < 0 ? "-" : std::to_string(r.total_loans),
             r.exceptions_count < 0 ? "-" : std::to_string(r.exceptions_count),
             FormatTime(r.accepted_unix_ms));
}

void PrintRunDetail(const schemas::RunRecord& r) {
  fmt::print("run        {}\nkey        {}\nteam       {}\nkind       {}\nstate      {}\n"
             "pdate      {}\nlocal date {}\nattempt    {} of {}\nrunner     {}\n"
             "accepted   {}\nstarted    {}\nfinished   {}\n",
             r.run_id, r.key, common::TeamLabel(r.team), r.kind, schemas::Name(r.state), r.pdate, r.local_date,
             r.attempt, r.max_attempts, r.runner_id.empty() ? "-" : r.runner_id,
             FormatTime(r.accepted_unix_ms), FormatTime(r.started_unix_ms),
             FormatTime(r.finished_unix_ms));
  if (r.next_attempt_unix_ms > 0) fmt::print("next try   {}\n", FormatTime(r.next_attempt_unix_ms));
  if (r.total_loans >= 0) fmt::print("loans      {}\n", r.total_loans);
  if (r.exceptions_count >= 0) fmt::print("exceptions {}\n", r.exceptions_count);
  for (const auto& [k, v] : r.metrics) {
    if (k != "total_loans" && k != "exceptions_count") fmt::print("  {:<24} {}\n", k, v);
  }
  if (r.exit_code >= 0) fmt::print("exit code  {}\n", r.exit_code);
  if (!r.error.empty()) fmt::print("error      {}\n", r.error);
  if (!r.log_path.empty()) fmt::print("log        {}\n", r.log_path);
  for (const auto& [role, file] : r.inputs) fmt::print("input      {} {}\n", role, file);
  if (!r.stderr_tail.empty() && r.state != schemas::RunState::kSucceeded) {
    // The pipeline's own last words: why it failed, as it said it.
    fmt::print("reason     (the end of its log)\n");
    PrintQuoted(stdout, r.stderr_tail);
  }
}

int WaitForEnd(Context& ctx, schemas::RunRecord run) {
  std::optional<schemas::RunState> last_state;
  while (!schemas::IsTerminal(run.state)) {
    if (!ctx.json && run.state != last_state) {
      fmt::print(stderr, "{}: {}{}\n", run.run_id, schemas::Name(run.state),
                 run.state == schemas::RunState::kRetryWait ? " (next try " + FormatTime(run.next_attempt_unix_ms) + ")" : "");
      last_state = run.state;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the broker
    schemas::ControlRequest get;
    get.op = std::string(schemas::op::kRunGet);
    get.run_id = run.run_id;
    int code = kExitOk;
    auto reply = ctx.Call(get, &code);
    if (!reply) return code;
    run = reply->run;
  }
  if (ctx.json) {
    PrintJson(schemas::ToJson(run));
  } else {
    PrintRunDetail(run);
  }
  return run.state == schemas::RunState::kSucceeded ? kExitOk : kExitFailed;
}

}  // namespace

void AddRunCommands(CLI::App& app, Context& ctx, int* result) {
  struct TriggerArgs {
    std::string team;
    bool general = false;
    std::string pdate;
    std::string key;
    bool wait = false;
  };
  auto args = std::make_shared<TriggerArgs>();
  CLI::App* trigger = app.add_subcommand("trigger", "start a run now (a manual run)");
  auto* team_opt = trigger->add_option("--team", args->team, "team id (a positive integer)");
  trigger->add_flag("--general", args->general, "the general run (no team)")->excludes(team_opt);
  trigger->add_option("--pdate", args->pdate, "purchase date YYYY-MM-DD (default: next Tuesday)");
  trigger->add_option("--key", args->key, "idempotency key: the same key twice is one run");
  trigger->add_flag("--wait", args->wait, "wait until the run ends; exit 0 only if it succeeded");
  trigger->callback([&ctx, result, args] {
    if (args->team.empty() && !args->general) {
      fmt::print(stderr, "daybreak trigger: give --team N or --general\n");
      *result = kExitUsage;
      return;
    }
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kTrigger);
    request.requested_by = "daybreak-cli";
    if (!args->team.empty()) {
      auto team = common::ParseTeamId(args->team);
      if (!team.ok()) {
        fmt::print(stderr, "daybreak trigger: {}\n", team.status().message());
        *result = kExitUsage;
        return;
      }
      request.team = team.value();
    }
    request.pdate = args->pdate;
    request.key = args->key;
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    const schemas::RunRecord& run = reply->run;
    if (args->wait) {
      if (!ctx.json) fmt::print(stderr, "{} {} for {}, pdate {}\n", run.run_id,
                                reply->duplicate ? "already exists" : "accepted",
                                common::TeamLabel(run.team), run.pdate);
      *result = WaitForEnd(ctx, run);
      return;
    }
    if (ctx.json) {
      nlohmann::json j = schemas::ToJson(run);
      j["duplicate"] = reply->duplicate;
      PrintJson(j);
    } else if (run.state == schemas::RunState::kSkipped || run.state == schemas::RunState::kMissed) {
      fmt::print("{} {} for {}: {}\n", run.run_id, schemas::Name(run.state), common::TeamLabel(run.team),
                 run.error.empty() ? "it will not run" : run.error);
    } else {
      fmt::print("{} {} for {} (state {}, pdate {})\n", run.run_id,
                 reply->duplicate ? "already exists" : "accepted", common::TeamLabel(run.team),
                 schemas::Name(run.state), run.pdate);
    }
    // A run that will not run is not what was asked for: scripts must see it.
    if (run.state == schemas::RunState::kSkipped || run.state == schemas::RunState::kMissed) {
      *result = kExitFailed;
    }
  });

  auto list_team = std::make_shared<std::string>();
  auto limit = std::make_shared<std::uint32_t>(50);
  CLI::App* runs = app.add_subcommand("runs", "list recent runs, newest first");
  runs->add_option("--team", *list_team, "only this team (\"general\" for the general run)");
  runs->add_option("--limit", *limit, "how many (max 10000)")->check(CLI::Range(1, 10000));
  auto since = std::make_shared<std::string>();
  runs->add_option("--since", *since,
                   "only runs accepted on or after this UTC date (YYYY-MM-DD); runs past the "
                   "run retention are in archive_dir/runs-YYYY-MM.jsonl.gz");
  runs->callback([&ctx, result, list_team, limit, since] {
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kRunsList);
    request.limit = *limit;
    if (!list_team->empty()) {
      request.all_teams = false;
      auto team = ParseTeamArg(*list_team, "daybreak runs", result);
      if (!team) return;
      request.team = *team;
    }
    std::optional<std::int64_t> since_ms;
    if (!since->empty()) {
      auto day = common::ParseDate(*since);
      if (!day.ok()) {
        fmt::print(stderr, "daybreak runs: --since {}: {}\n", *since, day.status().message());
        *result = kExitUsage;
        return;
      }
      since_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     day.value().time_since_epoch()).count();
    }
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    std::vector<schemas::RunRecord> listed;
    for (schemas::RunRecord& r : reply->runs) {
      if (!since_ms || r.accepted_unix_ms >= *since_ms) listed.push_back(std::move(r));
    }
    // Newest first: a full page whose oldest run is still after --since
    // may have more behind it.
    const bool more = since_ms && reply->runs.size() == *limit && listed.size() == *limit;
    if (ctx.json) {
      PrintRunsJson(listed);
      return;
    }
    fmt::print("{:<12} {:<8} {:<10} {:<11} {:>3}  {:<10} {:>8} {:>6}  {}\n", "RUN", "TEAM",
               "STATE", "PDATE", "TRY", "KIND", "LOANS", "EXCEPT", "ACCEPTED");
    for (const auto& r : listed) PrintRunLine(r);
    if (listed.empty()) fmt::print("{}\n", since_ms ? "(no runs since then)" : "(no runs yet)");
    if (more) fmt::print(stderr, "daybreak runs: more runs since {} may exist; raise --limit\n", *since);
  });

  auto run_id = std::make_shared<std::string>();
  CLI::App* run = app.add_subcommand("run", "one run");
  run->require_subcommand(1);
  CLI::App* show = run->add_subcommand("show", "show a run's record");
  show->add_option("RUN_ID", *run_id, "the run id, e.g. r0000000042")->required();
  show->callback([&ctx, result, run_id] {
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kRunGet);
    request.run_id = *run_id;
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) PrintJson(schemas::ToJson(reply->run));
    else PrintRunDetail(reply->run);
  });

  struct BackfillArgs {
    std::string team;
    std::string from;
    std::string to;
  };
  auto bargs = std::make_shared<BackfillArgs>();
  CLI::App* backfill = app.add_subcommand(
      "backfill", "one run per local date in a range, keyed like scheduled runs (done dates are not repeated)");
  backfill->add_option("--team", bargs->team, "team id, or \"general\"")->required();
  backfill->add_option("--from", bargs->from, "first local date YYYY-MM-DD")->required();
  backfill->add_option("--to", bargs->to, "last local date YYYY-MM-DD (inclusive)")->required();
  backfill->callback([&ctx, result, bargs] {
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kBackfill);
    request.from_date = bargs->from;
    request.to_date = bargs->to;
    request.requested_by = "daybreak backfill";
    auto team = ParseTeamArg(bargs->team, "daybreak backfill", result);
    if (!team) return;
    request.team = *team;
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) {
      PrintRunsJson(reply->runs);
      return;
    }
    for (const auto& r : reply->runs) {
      fmt::print("{} {} {} ({})\n", r.local_date, r.run_id, schemas::Name(r.state), r.key);
    }
  });

  auto cancel_id = std::make_shared<std::string>();
  CLI::App* cancel = app.add_subcommand("cancel", "stop a queued, waiting or running run");
  cancel->add_option("RUN_ID", *cancel_id, "the run id")->required();
  cancel->callback([&ctx, result, cancel_id] {
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kCancel);
    request.run_id = *cancel_id;
    if (!ctx.Init()) { *result = kExitUsage; return; }
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) PrintJson(schemas::ToJson(reply->run));
    else fmt::print("{}: {}\n", reply->run.run_id,
                    reply->run.state == schemas::RunState::kCancelled ? "cancelled" : "stopping (cancel sent to its runner)");
  });

  app.add_subcommand("runners", "list the runners connected: slots, the runs each holds, when last heard")
      ->callback([&ctx, result] {
        schemas::ControlRequest request;
        request.op = std::string(schemas::op::kStats);
        if (!ctx.Init()) { *result = kExitUsage; return; }
        auto reply = ctx.Call(request, result);
        if (!reply) return;
        if (ctx.json) {
          nlohmann::json out = nlohmann::json::array();
          for (const auto& r : reply->runners) out.push_back(schemas::ToJson(r));
          PrintJson(out);
          return;
        }
        fmt::print("{:<24} {:>9} {:>11}  {}\n", "RUNNER", "IN USE", "LAST HEARD", "RUNS");
        for (const auto& r : reply->runners) {
          fmt::print("{:<24} {:>9} {:>11}  {}\n", r.runner_id, fmt::format("{}/{}", r.runs.size(), r.slots),
                     fmt::format("{:.1f} s ago", static_cast<double>(r.last_seen_ms_ago) / 1000.0),
                     r.runs.empty() ? "-" : common::JoinShellWords(r.runs));
        }
        if (reply->runners.empty()) fmt::print("(no runner connected)\n");
      });
}

}  // namespace cli
