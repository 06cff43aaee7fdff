#include "broker/control_handler.h"

#include <spdlog/spdlog.h>

#include <algorithm>

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
         op == o::kCancel || op == o::kBackupCreate;
}

}  // namespace

ControlHandler::ControlHandler(RunManager& manager, Store& store, TeamRegistry& teams,
                               int max_backfill_days)
    : manager_(manager), store_(store), teams_(teams), max_backfill_days_(max_backfill_days) {}

std::string ControlHandler::Handle(std::string_view request_bytes) {
  auto request = schemas::DecodeControlRequest(request_bytes);
  if (!request.ok()) {
    spdlog::warn("bad control request: {}", request.status().message());
    return schemas::Encode(Error(request.status()));
  }
  ControlReply reply = Answer(request.value());
  if (!reply.ok) spdlog::info("control {} refused: {}", request.value().op, reply.error);
  return schemas::Encode(reply);
}

std::uint64_t ControlHandler::WrittenSeq() {
  if (manager_.no_space().ok()) return manager_.last_seq();  // the group is written before every reply
  // While the disk is full the pending group holds seqs no one may be told
  // of yet: a reader starting "after the newest" must not skip them.
  auto written = store_.LastSeq();
  return written.ok() ? written.value() : 0;
}

ControlReply ControlHandler::Answer(const ControlRequest& request) {
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
  if (op == schemas::op::kPing) {
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
    std::optional<std::uint32_t> team;
    if (!request.all_teams) team = request.team;
    auto runs = store_.ListRuns(team, Limit(request.limit));
    if (!runs.ok()) return Error(runs.status());
    reply.runs = std::move(runs).value();
  } else if (op == schemas::op::kRunGet) {
    auto run = store_.GetRun(request.run_id);
    if (!run.ok()) return Error(run.status());
    reply.run = run.value();
  } else if (op == schemas::op::kTeamsList) {
    reply.teams = teams_.ResolvedAll();
    reply.last_seq = manager_.last_seq();
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
                   {"no_space", manager_.no_space().ok() ? 0 : 1},
                   {"last_seq", static_cast<std::int64_t>(manager_.last_seq())}};
    for (const auto& source : stats_sources_) source(reply.stats);
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
