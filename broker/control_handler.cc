#include "broker/control_handler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/run_order.h"
#include "common/team.h"
#include "schemas/codec.h"

namespace broker {

using schemas::ControlReply;
using schemas::ControlRequest;

namespace {

ControlReply Error(const common::Status& status) {
  ControlReply reply;
  reply.ok = false;
  reply.error = status.message();
  reply.code = common::CodeId(status.code());
  return reply;
}

std::uint32_t Limit(std::uint32_t requested) {
  if (requested == 0) return kDefaultListLimit;
  return std::min(requested, kMaxListLimit);
}

// Ops that change state: refused while the disk is full, because their
// reply may leave only after what it reports is written.
bool Writes(std::string_view op) {
  namespace o = schemas::op;
  return op == o::kTrigger || op == o::kBackfill || op == o::kTeamPut || op == o::kTeamRemove ||
         op == o::kCancel || op == o::kBackupCreate || op == o::kNotificationsRedeliver;
}

// Ops that are about every team at once (the whole event log, the whole
// store): a key bound to teams may not send them.
bool NeedsEveryTeam(std::string_view op) {
  namespace o = schemas::op;
  return op == o::kEventsSince || op == o::kBackupCreate || op == o::kBackupList ||
         op == o::kBackupVerify || op == o::kAdminReload || DeadLetterOps::Handles(op);
}

std::string TeamList(const std::vector<std::uint32_t>& teams) {
  std::string out;
  for (std::uint32_t t : teams) out += (out.empty() ? "" : ", ") + common::TeamLabel(t);
  return out;
}

}  // namespace

ControlHandler::ControlHandler(RunManager& manager, Store& store, TeamRegistry& teams,
                               int max_backfill_days)
    : manager_(manager), store_(store), teams_(teams), max_backfill_days_(max_backfill_days),
      dead_letters_(store) {}

std::string ControlHandler::Handle(std::string_view request_bytes,
                                   const std::optional<common::KeyGrant>& caller) {
  std::optional<std::string> reply = HandleOrDefer(request_bytes, caller, 0);
  if (reply) return std::move(*reply);
  // Only a loop that keeps the request's envelope can be answered later.
  return schemas::Encode(Error(common::Status::Error(
      common::Code::kInvalid, "this op is answered only by the broker's control socket")));
}

std::optional<std::string> ControlHandler::HandleOrDefer(
    std::string_view request_bytes, const std::optional<common::KeyGrant>& caller,
    std::uint64_t ticket) {
  auto decoded = schemas::DecodeControlRequest(request_bytes);
  if (!decoded.ok()) {
    spdlog::warn("bad control request: {}", decoded.status().message());
    return schemas::Encode(Error(decoded.status()));
  }
  ControlRequest request = std::move(decoded).value();
  // Who asked: the key's name when the key has one, never what the
  // request claims; without CURVE there is only the claim.
  const bool named = caller && !caller->name.empty();
  const std::string claim = request.requested_by.empty() ? "" : " (says " + request.requested_by + ")";
  const std::string who = named    ? caller->name
                          : caller ? std::string(common::RoleName(caller->role)) + " key" + claim
                                   : "unauthenticated" + claim;
  if (named) request.requested_by = caller->name;
  if (caller) {
    if (common::Status s = Authorize(request, *caller); !s.ok()) {
      ControlReply refused = Error(s);
      spdlog::warn("control {} from {} refused: {}", request.op, who, s.message());
      Audit(request, who, refused);
      return schemas::Encode(refused);
    }
  }
  if (auto deferred = deferred_ops_.find(request.op); deferred != deferred_ops_.end()) {
    if (ticket == 0) return std::nullopt;
    std::optional<ControlReply> now = deferred->second(request, ticket);
    if (!now) return std::nullopt;
    if (!now->ok) spdlog::info("control {} refused: {}", request.op, now->error);
    return schemas::Encode(*now);
  }
  static const std::vector<std::uint32_t> kEveryTeam;
  ControlReply reply = Answer(request, caller ? caller->teams : kEveryTeam);
  if (!reply.ok) spdlog::info("control {} refused: {}", request.op, reply.error);
  if (Writes(request.op) || request.op == schemas::op::kAdminReload) Audit(request, who, reply);
  return schemas::Encode(reply);
}

std::optional<std::uint32_t> ControlHandler::TeamOf(const ControlRequest& request) {
  namespace o = schemas::op;
  const std::string& op = request.op;
  if (op == o::kTrigger || op == o::kBackfill || op == o::kTeamRemove) return request.team;
  if (op == o::kTeamPut) return request.team_record.id;
  if ((op == o::kRunsList || op == o::kTeamsList) && !request.all_teams) return request.team;
  if (op == o::kCancel || op == o::kRunGet || op == o::kRunLog) {
    auto run = store_.GetRun(request.run_id);  // written: the group goes first
    if (run.ok()) return run.value().team;
  }
  return std::nullopt;
}

common::Status ControlHandler::Authorize(const ControlRequest& request,
                                         const common::KeyGrant& caller) {
  if (caller.AllTeams()) return common::Status();
  if (NeedsEveryTeam(request.op)) {
    return common::Status::Error(common::Code::kRejected,
                                 "key " + caller.name + " may act only for " + TeamList(caller.teams) +
                                     "; " + request.op + " needs a key for every team");
  }
  // Reads as well as writes: a team's runs carry its dates, its reasons and
  // its pipeline's stderr, which are that team's business. Listings of every
  // team are cut to the key's teams in Answer.
  const std::optional<std::uint32_t> team = TeamOf(request);
  if (!team) return common::Status();  // a run that is not there: its answer says so
  if (caller.MayActFor(*team)) return common::Status();
  const bool read = !Writes(request.op);
  return common::Status::Error(common::Code::kRejected,
                               "key " + caller.name + " may not " + (read ? "read " : "") +
                                   request.op + " for " + common::TeamLabel(*team) +
                                   " (it may act only for " + TeamList(caller.teams) + ")");
}

void ControlHandler::Audit(const ControlRequest& request, const std::string& who,
                           const ControlReply& reply) {
  if (audit_ == nullptr) return;
  AuditEntry e;
  e.at_unix_ms = manager_.NowUnixMs();
  e.who = who;
  e.op = request.op;
  if (const auto team = TeamOf(request)) e.team = *team;
  e.run_id = !request.run_id.empty() ? request.run_id : reply.run.run_id;
  if (request.op == schemas::op::kBackfill) e.detail = request.from_date + ".." + request.to_date;
  if (request.op == schemas::op::kTrigger && !request.key.empty()) e.detail = "key " + request.key;
  if (request.op == schemas::op::kAdminReload) e.detail = reply.message;
  if (request.op == schemas::op::kNotificationsRedeliver) e.detail = reply.message;
  e.ok = reply.ok;
  e.error = reply.error;
  (void)audit_->Record(e);
}

common::Result<std::vector<schemas::RunRecord>> ControlHandler::ListRuns(
    const ControlRequest& request, const std::vector<std::uint32_t>& only_teams) {
  const std::size_t limit = Limit(request.limit);
  if (!request.all_teams) return store_.ListRuns(request.team, limit);  // authorized already
  if (only_teams.empty()) return store_.ListRuns(std::nullopt, limit);
  // "Every team" for a key bound to teams: its teams' newest, merged.
  std::vector<schemas::RunRecord> out;
  for (std::uint32_t team : only_teams) {
    auto runs = store_.ListRuns(team, limit);
    if (!runs.ok()) return runs.status();
    for (auto& r : runs.value()) out.push_back(std::move(r));
  }
  KeepNewest(out, limit);
  return out;
}

std::uint64_t ControlHandler::WrittenSeq() {
  if (manager_.no_space().ok()) return manager_.last_seq();  // the group is written before every reply
  // While the disk is full the pending group holds seqs no one may be told
  // of yet: a reader starting "after the newest" must not skip them.
  auto written = store_.LastSeq();
  return written.ok() ? written.value() : 0;
}

ControlReply ControlHandler::Answer(const ControlRequest& request,
                                    const std::vector<std::uint32_t>& only_teams) {
  ControlReply reply;
  reply.ok = true;
  const std::string& op = request.op;
  if (!manager_.no_space().ok() && Writes(op)) return Error(manager_.no_space());
  if (auto extra = extra_ops_.find(op); extra != extra_ops_.end()) {
    auto answered = extra->second(request);
    if (!answered.ok()) return Error(answered.status());
    ControlReply out = std::move(answered).value();
    out.ok = true;
    return out;
  }
  if (DeadLetterOps::Handles(op)) {
    auto answered = dead_letters_.Answer(request, manager_.no_space());
    if (!answered.ok()) return Error(answered.status());
    reply = std::move(answered).value();
    reply.ok = true;
  } else if (op == schemas::op::kPing) {
    reply.last_seq = WrittenSeq();
    reply.incarnation = store_.incarnation();
    reply.incarnation_from = store_.incarnation_from();
    reply.stats["no_space"] = manager_.no_space().ok() ? 0 : 1;  // /healthz reads it
  } else if (op == schemas::op::kTrigger) {
    if (!request.key.empty()) {
      if (auto s = schemas::ValidateRunKey(request.key); !s.ok()) return Error(s);
    }
    schemas::DueEvent due;
    due.team = request.team;
    due.kind = std::string(schemas::kind::kManual);
    due.key = request.key;
    due.pdate = request.pdate;
    due.requested_by = request.requested_by;
    Admission admission = manager_.Admit(due);
    if (!admission.status.ok()) return Error(admission.status);
    reply.run = admission.run;
    reply.duplicate = admission.duplicate;
  } else if (op == schemas::op::kRunsList) {
    auto runs = ListRuns(request, only_teams);
    if (!runs.ok()) return Error(runs.status());
    reply.runs = std::move(runs).value();
  } else if (op == schemas::op::kRunGet) {
    auto run = store_.GetRun(request.run_id);
    if (!run.ok()) return Error(run.status());
    reply.run = run.value();
  } else if (op == schemas::op::kTeamsList && !request.all_teams) {
    // One team (authorized already): the ticker's reload of one change.
    if (const schemas::TeamRecord* t = teams_.Find(request.team)) {
      reply.teams.push_back(teams_.Resolved(*t));
      reply.tallies.push_back(manager_.TallyOf(t->id));
    }
    reply.last_seq = manager_.last_seq();
  } else if (op == schemas::op::kTeamsList) {
    reply.teams = teams_.ResolvedAll();
    if (!only_teams.empty()) {
      std::erase_if(reply.teams, [&](const schemas::TeamRecord& t) {
        return std::find(only_teams.begin(), only_teams.end(), t.id) == only_teams.end();
      });
    }
    reply.last_seq = manager_.last_seq();
    for (const schemas::TeamRecord& t : reply.teams) reply.tallies.push_back(manager_.TallyOf(t.id));
  } else if (op == schemas::op::kTeamPut) {
    if (auto s = common::ValidateTeamId(request.team_record.id, true); !s.ok()) return Error(s);
    if (auto s = manager_.PutTeam(request.team_record); !s.ok()) return Error(s);
    reply.teams = {teams_.Resolved(*teams_.Find(request.team_record.id))};
  } else if (op == schemas::op::kTeamRemove) {
    if (auto s = manager_.RemoveTeam(request.team); !s.ok()) return Error(s);
  } else if (op == schemas::op::kEventsSince) {
    auto events = store_.EventsAfter(request.since_seq, Limit(request.limit));
    if (!events.ok()) return Error(events.status());
    reply.events = std::move(events).value();
    reply.last_seq = WrittenSeq();
    reply.incarnation = store_.incarnation();
    reply.incarnation_from = store_.incarnation_from();
  } else if (op == schemas::op::kBackfill) {
    auto runs = manager_.Backfill(request.team, request.from_date, request.to_date,
                                  max_backfill_days_, request.requested_by);
    if (!runs.ok()) return Error(runs.status());
    for (const Admission& a : runs.value()) reply.runs.push_back(a.run);
  } else if (op == schemas::op::kStats) {
    const Counters c = manager_.counters();
    reply.stats = {{"active_runs", static_cast<std::int64_t>(manager_.active_runs())},
                   {"runners", static_cast<std::int64_t>(manager_.runner_count())},
                   {"stale_results", static_cast<std::int64_t>(c.stale_results)},
                   {"duplicates", static_cast<std::int64_t>(c.duplicates)},
                   {"store_errors", static_cast<std::int64_t>(c.store_errors)},
                   {"refused_hellos", static_cast<std::int64_t>(c.refused_hellos)},
                   {"redispatches", static_cast<std::int64_t>(c.redispatches)},
                   {"queued_runs", static_cast<std::int64_t>(manager_.queued_runs())},
                   {"no_space", manager_.no_space().ok() ? 0 : 1},
                   {"last_seq", static_cast<std::int64_t>(manager_.last_seq())}};
    if (auto n = dead_letters_.Count(); n.ok()) reply.stats["notifications_failed"] = static_cast<std::int64_t>(n.value());
    for (const auto& source : stats_sources_) source(reply.stats);
    reply.runners = manager_.RunnerSummaries();
  } else if (op == schemas::op::kCancel) {
    auto run = manager_.Cancel(request.run_id);
    if (!run.ok()) return Error(run.status());
    reply.run = run.value();
  } else {
    return Error(common::Status::Error(common::Code::kInvalid, "unknown op \"" + op + "\""));
  }
  return reply;
}

}  // namespace broker
