// ControlHandler: answers control-socket requests (trigger, runs, teams,
// event replay, cancel). Bytes in, bytes out; never throws.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/audit_log.h"
#include "broker/dead_letter_ops.h"
#include "broker/run_manager.h"
#include "broker/store.h"
#include "broker/team_registry.h"
#include "common/security.h"

namespace broker {

inline constexpr std::uint32_t kDefaultListLimit = 50;
inline constexpr std::uint32_t kMaxListLimit = 10'000;

class ControlHandler {
 public:
  // All three must outlive the handler.
  ControlHandler(RunManager& manager, Store& store, TeamRegistry& teams,
                 int max_backfill_days = 366);

  // Decodes a request and returns the encoded reply; a bad request gets a
  // reply with ok=false and the reason. `caller` is the key that sent it
  // when CURVE is on (nullopt: no identity; anyone may do anything, and
  // requested_by is what the request says): a key bound to teams may read
  // and change only those teams and their runs (rejected otherwise; a
  // listing of every team lists its teams only, and the ops about every
  // team at once, events.since and backups, need a key for every team),
  // and a named key is the run's requested_by whatever the request says.
  // Every change, and every request refused for its key, goes to the audit log.
  std::string Handle(std::string_view request_bytes,
                     const std::optional<common::KeyGrant>& caller = std::nullopt);
  // Handle, for a loop that can answer later: nullopt when a deferred op
  // (AddDeferredOp) took the request, to be answered under `ticket`.
  std::optional<std::string> HandleOrDefer(std::string_view request_bytes,
                                           const std::optional<common::KeyGrant>& caller,
                                           std::uint64_t ticket);
  // Where changes are recorded; null (the default): nowhere.
  void SetAuditLog(AuditLog* audit) { audit_ = audit; }
  AuditLog* audit_log() const { return audit_; }

  // Adds figures owned by others (the Broker loop's frame counters) to the
  // "stats" reply. `source` must stay valid while the handler is used.
  using StatsSource = std::function<void(std::map<std::string, std::int64_t>&)>;
  void AddStatsSource(StatsSource source) { stats_sources_.push_back(std::move(source)); }

  // Answers `op` with `answer` (ops that need what only the daemon has, such
  // as the RocksDB store's backups). An error Status becomes the refusal.
  using OpAnswer = std::function<common::Result<schemas::ControlReply>(const schemas::ControlRequest&)>;
  void AddOp(std::string_view op, OpAnswer answer) { extra_ops_[std::string(op)] = std::move(answer); }
  // Answers `op`, authorized as every request is, either now (a reply) or
  // later under `ticket` (nullopt): run.log, which asks a runner.
  using DeferredAnswer = std::function<std::optional<schemas::ControlReply>(
      const schemas::ControlRequest&, std::uint64_t ticket)>;
  void AddDeferredOp(std::string_view op, DeferredAnswer answer) {
    deferred_ops_[std::string(op)] = std::move(answer);
  }

 private:
  // `only_teams`: the caller's teams (empty: every team), which listings
  // of every team are cut to.
  schemas::ControlReply Answer(const schemas::ControlRequest& request,
                               const std::vector<std::uint32_t>& only_teams);
  common::Result<std::vector<schemas::RunRecord>> ListRuns(const schemas::ControlRequest& request,
                                                           const std::vector<std::uint32_t>& only_teams);
  // Whether `caller` may send `request`, by the team it is about.
  common::Status Authorize(const schemas::ControlRequest& request, const common::KeyGrant& caller);
  // The team a request is about; nullopt for a run that is not there (its
  // answer says so) and for ops that are about no team or every team.
  std::optional<std::uint32_t> TeamOf(const schemas::ControlRequest& request);
  void Audit(const schemas::ControlRequest& request, const std::string& who,
             const schemas::ControlReply& reply);
  // The newest seq that is written (and so may be announced).
  std::uint64_t WrittenSeq();

  RunManager& manager_;
  Store& store_;
  TeamRegistry& teams_;
  std::vector<StatsSource> stats_sources_;
  std::map<std::string, OpAnswer, std::less<>> extra_ops_;
  std::map<std::string, DeferredAnswer, std::less<>> deferred_ops_;
  int max_backfill_days_;
  AuditLog* audit_ = nullptr;
  DeadLetterOps dead_letters_;  // notifications.failed, .redeliver, .sync
};

}  // namespace broker
