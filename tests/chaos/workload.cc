#include "tests/chaos/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace chaos {

using schemas::RunState;
using namespace std::chrono;

namespace {

// Zones without daylight saving, so the driver can name a fire's local
// time and date by itself: its offset from UTC never changes.
struct Zone {
  const char* name;
  int offset_min;
};
constexpr Zone kZones[] = {{"UTC", 0}, {"Asia/Kolkata", 330}, {"Asia/Kathmandu", 345},
                           {"Asia/Tokyo", 540}};

std::string LocalTime(system_clock::time_point t, int offset_min) {
  const auto local = t + minutes(offset_min);
  const auto day = floor<days>(local);
  const hh_mm_ss hms(floor<minutes>(local - day));
  return fmt::format("{:02}:{:02}", hms.hours().count(), hms.minutes().count());
}

std::string LocalDate(system_clock::time_point t, int offset_min) {
  const year_month_day ymd(floor<days>(t + minutes(offset_min)));
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

}  // namespace

Workload::Workload(testing::Cluster& cluster, Ledger& ledger, std::mt19937_64& rng,
                   WorkloadSettings settings)
    : cluster_(cluster), ledger_(ledger), rng_(rng), settings_(std::move(settings)) {
  const int extra = std::max(1, settings_.teams / 10);
  std::uint32_t id = 5;
  for (int i = 0; i < extra; ++i) ticker_teams_.push_back(id++);
  for (int i = 0; i < extra; ++i) skip_teams_.push_back(id++);
  while (id <= static_cast<std::uint32_t>(settings_.teams)) queue_teams_.push_back(id++);
  if (queue_teams_.empty()) throw std::invalid_argument("chaos needs at least 8 teams");
}

system_clock::time_point Workload::SimNow() const {
  return system_clock::now() + settings_.clock_offset;
}

void Workload::SetUpTeams() {
  // Teams the clock must leave alone: their time passed two hours ago, and
  // a put moves schedule_since to now, so nothing is owed today.
  const std::string passed = LocalTime(SimNow() - hours(2), 0);
  auto put = [&](std::uint32_t id, const std::string& overlap, const std::string& time,
                 const char* zone, std::vector<std::uint32_t> after) {
    schemas::TeamRecord team;
    team.id = id;
    team.overlap = overlap;
    team.run_time = time;
    team.timezone = zone;
    team.after = std::move(after);
    if (id != 0) team.command = settings_.command;
    cluster_.AddTeam(team);
  };
  const std::string queue(schemas::overlap::kQueue), skip(schemas::overlap::kSkip);
  put(0, queue, passed, "UTC", {});
  put(upstream_a_, queue, passed, "UTC", {});
  put(upstream_b_, queue, passed, "UTC", {});
  put(chained_c_, queue, passed, "UTC", {upstream_a_, upstream_b_});
  put(chained_d_, queue, passed, "UTC", {chained_c_});
  for (std::uint32_t t : skip_teams_) put(t, skip, passed, "UTC", {});
  for (std::uint32_t t : queue_teams_) put(t, queue, passed, "UTC", {});
  // Ticker teams fire on the minute boundaries inside the run, the first
  // at least 4 s from now so the ticker has the schedule by then.
  const auto first = ceil<minutes>(SimNow() + seconds(4));
  const int minutes_in_run = std::max(1, settings_.seconds / 60);
  for (std::size_t i = 0; i < ticker_teams_.size(); ++i) {
    const Zone& zone = kZones[i % std::size(kZones)];
    const auto fire = first + minutes(static_cast<int>(i) % minutes_in_run);
    put(ticker_teams_[i], queue, LocalTime(fire, zone.offset_min), zone.name, {});
    const std::string key =
        fmt::format("sched:{}:{}", ticker_teams_[i], LocalDate(fire, zone.offset_min));
    ledger_.Expect(key, ticker_teams_[i], "ticker");
    ++counts_.ticker_fires;
  }
  Plan();
}

void Workload::Plan() {
  // Backfilled dates (each upstream team, and one chained run of each of
  // the two chained teams per date) and ticker fires count toward --runs.
  const int dates = std::clamp(settings_.runs / 40, 5, 150);
  const int manual = std::max(1, settings_.runs - 4 * dates - counts_.ticker_fires);
  const double span = 0.9 * settings_.seconds;
  std::vector<std::uint32_t> manual_teams = queue_teams_;
  manual_teams.insert(manual_teams.end(), skip_teams_.begin(), skip_teams_.end());
  std::uniform_real_distribution<double> cancel_delay(0.0, 1.5);
  for (int i = 0; i < manual; ++i) {
    Action a;
    a.kind = Action::kTrigger;
    a.at_s = span * i / manual;
    a.team = manual_teams[rng_() % manual_teams.size()];
    a.key = fmt::format("chaos-{}", i);
    actions_.push_back(a);
    const bool queue_team = std::find(queue_teams_.begin(), queue_teams_.end(), a.team) !=
                            queue_teams_.end();
    if (queue_team && static_cast<int>(rng_() % 100) < settings_.cancel_percent) {
      Action c = a;
      c.kind = Action::kCancel;
      c.at_s = a.at_s + cancel_delay(rng_);
      actions_.push_back(c);
    }
  }
  // Dates back from yesterday, in chunks of 1-5, each asked of both teams.
  const auto yesterday = SimNow() - days(1);
  for (int done = 0; done < dates;) {
    const int n = std::min(dates - done, 1 + static_cast<int>(rng_() % 5));
    Action b;
    b.kind = Action::kBackfill;
    b.from = LocalDate(yesterday - days(done + n - 1), 0);
    b.to = LocalDate(yesterday - days(done), 0);
    b.at_s = span * 0.8 * done / dates;
    for (std::uint32_t team : {upstream_a_, upstream_b_}) {
      b.team = team;
      b.at_s += 0.5;
      actions_.push_back(b);
    }
    done += n;
  }
  std::stable_sort(actions_.begin(), actions_.end(),
                   [](const Action& x, const Action& y) { return x.at_s < y.at_s; });
}

bool Workload::Step(steady_clock::duration elapsed) {
  const double now_s = duration<double>(elapsed).count();
  // A few at a time, so a caller's loop stays responsive.
  for (int i = 0; i < 8 && next_ < actions_.size() && actions_[next_].at_s <= now_s; ++i) {
    if (!Do(actions_[next_])) {
      actions_[next_].tried = true;
      ++counts_.control_retries;
      cluster_.WaitForBroker(seconds(5));  // it was down: the same request again
      break;
    }
    ++next_;
  }
  return next_ < actions_.size();
}

bool Workload::Do(Action& a) {
  switch (a.kind) {
    case Action::kTrigger: return DoTrigger(a);
    case Action::kBackfill: return DoBackfill(a);
    case Action::kCancel: return DoCancel(a);
  }
  return true;
}

bool Workload::DoTrigger(Action& a) {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kTrigger);
  request.team = a.team;
  request.key = a.key;
  request.requested_by = "chaos";
  auto reply = cluster_.Call(request);
  if (!reply.ok()) {
    if (reply.status().code() != common::Code::kIoError) {
      throw std::runtime_error("trigger " + a.key + " refused: " + reply.status().message());
    }
    return false;
  }
  const bool skip_team = std::find(skip_teams_.begin(), skip_teams_.end(), a.team) !=
                         skip_teams_.end();
  Expectation& e = ledger_.Expect(a.key, a.team, skip_team ? "skip-team" : "manual");
  e.run_id = reply.value().run.run_id;
  // Skipping is decided at admission and is terminal at once, so even the
  // answer to a repeated trigger (a duplicate) shows it.
  if (reply.value().run.state == RunState::kSkipped) {
    e.allowed = {RunState::kSkipped};
    e.note = "skipped at admission";
  }
  ++counts_.triggers;
  if (skip_team) ++counts_.skip_triggers;
  return true;
}

bool Workload::DoBackfill(Action& a) {
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kBackfill);
  request.team = a.team;
  request.from_date = a.from;
  request.to_date = a.to;
  request.requested_by = "chaos";
  auto reply = cluster_.Call(request);
  if (!reply.ok()) {
    if (reply.status().code() != common::Code::kIoError) {
      throw std::runtime_error("backfill refused: " + reply.status().message());
    }
    return false;
  }
  ++counts_.backfill_requests;
  for (const schemas::RunRecord& run : reply.value().runs) {
    Expectation& e = ledger_.Expect(run.key, a.team, "backfill");
    e.run_id = run.run_id;
    ++counts_.backfill_runs;
    // Once both upstream teams have the date, each chained team owes one
    // run of it (keyed after:<team>:<date>, PROTOCOL.md, TeamRecord.after).
    if (++upstream_dates_[run.local_date] == 2) {
      for (std::uint32_t team : {chained_c_, chained_d_}) {
        ledger_.Expect(fmt::format("after:{}:{}", team, run.local_date), team, "chained");
        ++counts_.chained;
      }
    }
  }
  return true;
}

bool Workload::DoCancel(Action& a) {
  Expectation* e = ledger_.Find(a.key);
  if (e == nullptr || e->run_id.empty() || e->allowed.count(RunState::kSkipped) != 0) return true;
  schemas::ControlRequest request;
  request.op = std::string(schemas::op::kCancel);
  request.run_id = e->run_id;
  auto reply = cluster_.Call(request);
  if (!reply.ok() && reply.status().code() == common::Code::kIoError) {
    ++counts_.cancel_retries;
    return false;
  }
  ++counts_.cancels;
  // The rule, from RunManager::Cancel and PROTOCOL.md ("cancel"): a run not
  // out with a runner is cancelled at once and must end so; one out with a
  // runner gets cancel_requested, and its runner's result ends it:
  // cancelled, or succeeded when the success crossed the cancel (the
  // pipeline had finished). A run that had ended stays as it ended; when
  // an earlier try got no answer it may have been that try that ended it.
  const std::set<RunState> either = {RunState::kCancelled, RunState::kSucceeded};
  if (!reply.ok()) {
    e->allowed = a.tried ? either : std::set<RunState>{RunState::kSucceeded};
    e->note = "cancel refused: " + reply.status().message();
  } else if (reply.value().run.state == RunState::kCancelled) {
    e->allowed = {RunState::kCancelled};
    e->note = "cancelled at once";
  } else {
    e->allowed = either;
    e->note = "cancel_requested while out with a runner";
  }
  return true;
}

}  // namespace chaos
