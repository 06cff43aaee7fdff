// daybreak teams list|add|remove|pause|resume, and daybreak schedule
#include <fmt/format.h>

#include <sstream>
#include <unordered_map>

#include "cli/cli_context.h"
#include "common/schedule.h"
#include "common/text.h"
#include "common/team.h"
#include "schemas/codec.h"
#include "schemas/json.h"

namespace cli {
namespace {

inline constexpr int kMaxScheduleDays = 366;

std::optional<std::vector<schemas::TeamRecord>> FetchTeams(Context& ctx, int* result) {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kTeamsList);
  auto reply = ctx.Call(request, result);
  if (!reply) return std::nullopt;
  return reply->teams;
}

// Each team's schedule, in the order of `teams`. A record that does not
// hold one is the broker's fault: says which team, sets *result and
// returns nullopt.
std::optional<std::vector<common::DailySchedule>> SchedulesOf(const std::vector<schemas::TeamRecord>& teams,
                                                              const char* command, int* result) {
  std::vector<common::DailySchedule> schedules;
  for (const schemas::TeamRecord& t : teams) {
    auto time = common::ParseTimeOfDay(t.run_time);
    auto zone = common::FindZone(t.timezone);
    if (!time.ok() || !zone.ok()) {
      fmt::print(stderr, "{}: the broker sent {} with no readable schedule: {}\n", command,
                 common::TeamLabel(t.id), (time.ok() ? zone.status() : time.status()).message());
      *result = kExitFailed;
      return std::nullopt;
    }
    schedules.push_back({time.value(), zone.value()});
  }
  return schedules;
}

// "daily at 02:00 UTC", or for a team with dependencies (not run by the
// clock) "after team 1, team 2 succeed for a date".
std::string ScheduleText(const schemas::TeamRecord& t) {
  if (t.after.empty()) return "daily at " + t.run_time + " " + t.timezone;
  std::string teams;
  for (std::uint32_t id : t.after) teams += (teams.empty() ? "" : ", ") + common::TeamLabel(id);
  return "after " + teams + " succeed for a date";
}

std::string AfterList(const schemas::TeamRecord& t) {
  std::string out;
  for (std::uint32_t id : t.after) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

std::string Label(std::uint32_t id) { return id == common::kGeneralTeam ? "general" : std::to_string(id); }

int PutTeam(Context& ctx, const schemas::TeamRecord& team) {
  if (auto s = schemas::ValidateTeamRecord(team); !s.ok()) {
    fmt::print(stderr, "daybreak teams: {}\n", s.message());
    return kExitUsage;
  }
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kTeamPut);
  request.team_record = team;
  int result = kExitOk;
  auto reply = ctx.Call(request, &result);
  if (!reply) return result;
  if (reply->teams.empty()) {
    fmt::print(stderr, "daybreak teams: the broker saved {} but sent no team record back\n",
               common::TeamLabel(team.id));
    return kExitFailed;
  }
  const schemas::TeamRecord& t = reply->teams.front();
  if (ctx.json) {
    PrintJson(schemas::ToJson(t));
  } else {
    fmt::print("{} saved: {}{}, overlap {}{}{}\n", common::TeamLabel(t.id), ScheduleText(t),
               t.paused ? " (paused)" : "", t.overlap, t.network ? "" : ", no network",
               t.memory_mb > 0 ? ", memory " + std::to_string(t.memory_mb) + " MiB" : "");
    // Each runner makes the team's folders as soon as the broker tells it.
    fmt::print("  inputs go in {} on each runner's host\n",
               common::DirsFor(t.id, ctx.config.input_dir, ctx.config.output_dir).input);
  }
  return kExitOk;
}

}  // namespace

void AddTeamCommands(CLI::App& app, Context& ctx, int* result) {
  CLI::App* teams = app.add_subcommand("teams", "list and change teams and their schedules");
  teams->require_subcommand(1);

  teams->add_subcommand("list", "list teams with their schedule and next fire")
      ->callback([&ctx, result] {
        if (!ctx.Init()) { *result = kExitUsage; return; }
        schemas::ControlRequest request;
        request.op = std::string(schemas::op::kTeamsList);
        auto reply = ctx.Call(request, result);
        if (!reply) return;
        const std::vector<schemas::TeamRecord>* list = &reply->teams;
        // Each team's tally (streak, last success); zeros for one the broker did not send.
        std::unordered_map<std::uint32_t, schemas::TeamTally> tallies;
        for (const auto& t : reply->tallies) tallies[t.team] = t;
        auto tally_of = [&tallies](std::uint32_t team) {
          const auto it = tallies.find(team);
          return it != tallies.end() ? it->second : schemas::TeamTally{team};
        };
        const auto schedules = SchedulesOf(*list, "daybreak teams list", result);
        if (!schedules) return;
        const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        nlohmann::json out = nlohmann::json::array();
        if (!ctx.json) {
          fmt::print("{:<8} {:<16} {:<6} {:<22} {:<6} {:<7} {:<20} {:<7} {:<20} {}\n", "TEAM", "NAME", "TIME",
                     "TIMEZONE", "OVERLAP", "STATE", "NEXT FIRE (UTC)", "STREAK", "LAST SUCCESS (UTC)",
                     "COMMAND");
        }
        for (std::size_t i = 0; i < list->size(); ++i) {
          const schemas::TeamRecord& t = (*list)[i];
          const common::Fire next = common::NextFireAfter((*schedules)[i], now);
          const schemas::TeamTally tally = tally_of(t.id);
          const std::string last_success =
              tally.last_success_unix_ms > 0
                  ? common::FormatUtc(std::chrono::floor<std::chrono::seconds>(std::chrono::sys_time<std::chrono::milliseconds>(
                        std::chrono::milliseconds(tally.last_success_unix_ms))))
                  : "";
          if (ctx.json) {
            nlohmann::json j = schemas::ToJson(t);
            j["next_fire_utc"] = t.paused || !t.after.empty() ? "" : common::FormatUtc(next.at);
            j["consecutive_failures"] = tally.consecutive_failures;
            j["last_success_utc"] = last_success;
            out.push_back(j);
          } else {
            fmt::print("{:<8} {:<16} {:<6} {:<22} {:<6} {:<7} {:<20} {:<7} {:<20} {}\n", Label(t.id), t.name,
                       t.run_time, t.timezone, t.overlap, t.paused ? "paused" : "active",
                       t.paused ? "-" : !t.after.empty() ? "after " + AfterList(t) : common::FormatUtc(next.at),
                       tally.consecutive_failures == 0 ? "-" : std::to_string(tally.consecutive_failures) + " failed",
                       last_success.empty() ? "-" : last_success,
                       t.command.empty() ? "(reference pipeline)" : common::JoinShellWords(t.command));
          }
        }
        if (ctx.json) PrintJson(out);
      });

  struct AddArgs {
    std::string id;
    schemas::TeamRecord team;
    std::string command;
    std::vector<std::string> args;
    std::vector<std::string> env;
    bool no_network = false;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add = teams->add_subcommand(
      "add", "add a team, or replace an existing team's settings (same id = update)");
  add->add_option("TEAM", add_args->id, "team id (positive integer, or \"general\")")->required();
  add->add_option("--name", add_args->team.name, "a name people recognise");
  add->add_option("--time", add_args->team.run_time, "daily run time HH:MM (default: DAILY_RUN_TIME)");
  add->add_option("--tz", add_args->team.timezone, "IANA time zone, e.g. Europe/Berlin (default: TIMEZONE)");
  add->add_option("--overlap", add_args->team.overlap, "when a run arrives while one is active: skip or queue");
  add->add_option("--max-attempts", add_args->team.max_attempts, "attempts per run (default: retry.max_attempts)");
  add->add_option("--after", add_args->team.after,
                  "run after these teams succeeded for the same date (not by the clock)")
      ->delimiter(',');
  add->add_option("--retry-on", add_args->team.retry_on, "retry transient failures only, or any failure")
      ->check(CLI::IsMember({"transient", "any"}));
  add->add_option("--backoff", add_args->team.backoff_initial_s, "first retry delay in seconds (doubles per attempt)");
  add->add_option("--backoff-max", add_args->team.backoff_max_s, "longest retry delay in seconds");
  add->add_option("--timeout", add_args->team.timeout_s, "seconds a run may take (default: runner.run_timeout_s)");
  add->add_option("--command", add_args->command,
                  "the team's own pipeline command, split as a shell would (quotes and \\ "
                  "escapes; nothing is expanded). Default: the reference pipeline");
  add->add_option("--arg", add_args->args,
                  "one more argv word, as is (repeatable; after --command's words)");
  add->add_flag("--paused", add_args->team.paused, "add it paused (no scheduled runs)");
  add->add_flag("--no-network", add_args->no_network,
                "run its pipeline with no network at all (a network namespace of its own)");
  add->add_option("--memory-mb", add_args->team.memory_mb,
                  "memory limit per run in MiB (default: runner.memory_max_mb; 0: none)");
  add->add_option("--env", add_args->env,
                  "NAME=value for the team's pipeline (repeatable; not DAYBREAK_*, TMPDIR, HOME)");
  add->callback([&ctx, result, add_args] {
    schemas::TeamRecord team = add_args->team;
    if (add_args->id != "general") {
      auto id = common::ParseTeamId(add_args->id);
      if (!id.ok()) {
        fmt::print(stderr, "daybreak teams add: {}\n", id.status().message());
        *result = kExitUsage;
        return;
      }
      team.id = id.value();
    }
    std::string error;
    if (!common::SplitShellWords(add_args->command, &team.command, &error)) {
      fmt::print(stderr, "daybreak teams add: --command {}: {}\n", add_args->command, error);
      *result = kExitUsage;
      return;
    }
    team.command.insert(team.command.end(), add_args->args.begin(), add_args->args.end());
    team.network = !add_args->no_network;
    for (const std::string& entry : add_args->env) {
      const std::size_t eq = entry.find('=');
      if (eq == std::string::npos || eq == 0) {
        fmt::print(stderr, "daybreak teams add: --env {}: expected NAME=value\n", entry);
        *result = kExitUsage;
        return;
      }
      team.env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    if (!ctx.Init()) { *result = kExitUsage; return; }
    *result = PutTeam(ctx, team);
  });

  auto target = std::make_shared<std::string>();
  auto pause_or_resume = [&ctx, result, target](bool paused) {
    return [&ctx, result, target, paused] {
      auto parsed = ParseTeamArg(*target, "daybreak teams", result);
      if (!parsed) return;
      const std::uint32_t id = *parsed;
      if (!ctx.Init()) { *result = kExitUsage; return; }
      auto list = FetchTeams(ctx, result);
      if (!list) return;
      for (schemas::TeamRecord t : *list) {
        if (t.id != id) continue;
        t.paused = paused;
        *result = PutTeam(ctx, t);
        return;
      }
      fmt::print(stderr, "daybreak teams: {} does not exist\n", common::TeamLabel(id));
      *result = kExitFailed;
    };
  };
  CLI::App* pause = teams->add_subcommand("pause", "stop scheduling a team (manual runs still work)");
  pause->add_option("TEAM", *target, "team id or \"general\"")->required();
  pause->callback(pause_or_resume(true));
  CLI::App* resume = teams->add_subcommand("resume", "schedule a paused team again");
  resume->add_option("TEAM", *target, "team id or \"general\"")->required();
  resume->callback(pause_or_resume(false));

  auto remove_id = std::make_shared<std::string>();
  CLI::App* remove = teams->add_subcommand("remove", "remove a team (its run history stays)");
  remove->add_option("TEAM", *remove_id, "team id")->required();
  remove->callback([&ctx, result, remove_id] {
    auto id = common::ParseTeamId(*remove_id);
    if (!id.ok()) {
      fmt::print(stderr, "daybreak teams remove: {}\n", id.status().message());
      *result = kExitUsage;
      return;
    }
    if (!ctx.Init()) { *result = kExitUsage; return; }
    schemas::ControlRequest request;
    request.op = std::string(schemas::op::kTeamRemove);
    request.team = id.value();
    auto reply = ctx.Call(request, result);
    if (!reply) return;
    if (ctx.json) PrintJson({{"ok", true}, {"removed", id.value()}});
    else fmt::print("{} removed\n", common::TeamLabel(id.value()));
  });

  struct ScheduleArgs {
    std::string team;
    std::string from;
    int days = 7;
  };
  auto sargs = std::make_shared<ScheduleArgs>();
  CLI::App* schedule = app.add_subcommand("schedule", "list upcoming fires: UTC instant, local time, pdate, DST notes");
  schedule->add_option("--team", sargs->team, "only this team (or \"general\")");
  schedule->add_option("--from", sargs->from, "first local date YYYY-MM-DD (default: today)");
  schedule->add_option("--days", sargs->days, "how many days (1-366)");
  schedule->callback([&ctx, result, sargs] {
    if (sargs->days < 1 || sargs->days > kMaxScheduleDays) {
      fmt::print(stderr, "daybreak schedule: --days {} is outside 1-{}\n", sargs->days, kMaxScheduleDays);
      *result = kExitUsage;
      return;
    }
    std::optional<date::local_days> from;
    if (!sargs->from.empty()) {
      auto parsed = common::ParseDate(sargs->from);
      if (!parsed.ok()) {
        fmt::print(stderr, "daybreak schedule: {}\n", parsed.status().message());
        *result = kExitUsage;
        return;
      }
      from = parsed.value();
    }
    if (!ctx.Init()) { *result = kExitUsage; return; }
    const auto pday = common::ParseWeekday(ctx.config.purchase_weekday);
    if (!pday.ok()) {  // LoadConfig checks it; never trust that silently
      fmt::print(stderr, "daybreak schedule: {}\n", pday.status().message());
      *result = kExitUsage;
      return;
    }
    auto list = FetchTeams(ctx, result);
    if (!list) return;
    const auto schedules = SchedulesOf(*list, "daybreak schedule", result);
    if (!schedules) return;
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    nlohmann::json out = nlohmann::json::array();
    bool found = false;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const schemas::TeamRecord& t = (*list)[i];
      if (!sargs->team.empty() && sargs->team != Label(t.id)) continue;
      found = true;
      const common::DailySchedule& s = (*schedules)[i];
      const date::local_days first = from ? *from : common::LocalDateOf(s.zone, now);
      for (const common::Fire& f : common::FiresFrom(s, first, sargs->days)) {
        const std::string local = date::format("%F %R %Z", date::make_zoned(s.zone, f.at));
        const std::string pdate = common::FormatDate(common::PurchaseDate(f.local_date, pday.value()));
        if (ctx.json) {
          out.push_back({{"team", t.id}, {"local_date", common::FormatDate(f.local_date)},
                         {"utc", common::FormatUtc(f.at)}, {"local", local}, {"pdate", pdate},
                         {"paused", t.paused}, {"note", f.note}});
        } else {
          fmt::print("{:<8} {:<21} {:<26} pdate {}{}{}\n", Label(t.id), common::FormatUtc(f.at),
                     local, pdate, t.paused ? "  (paused)" : "", f.note.empty() ? "" : "  " + f.note);
        }
      }
    }
    if (!found) {
      fmt::print(stderr, "daybreak schedule: no team {}\n", sargs->team);
      *result = kExitFailed;
      return;
    }
    if (ctx.json) PrintJson(out);
  });
}

}  // namespace cli
