// ControlHandler: answers control-socket requests (trigger, runs, teams,
// event replay, cancel). Bytes in, bytes out; never throws.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>
#include <string_view>

#include "broker/run_manager.h"
#include "broker/store.h"
#include "broker/team_registry.h"

namespace broker {

inline constexpr std::uint32_t kDefaultListLimit = 50;
inline constexpr std::uint32_t kMaxListLimit = 10'000;

class ControlHandler {
 public:
  // All three must outlive the handler.
  ControlHandler(RunManager& manager, Store& store, TeamRegistry& teams,
                 int max_backfill_days = 366);

  // Decodes a request and returns the encoded reply; a bad request gets a
  // reply with ok=false and the reason.
  std::string Handle(std::string_view request_bytes);

  // Adds figures owned by others (the Broker loop's frame counters) to the
  // "stats" reply. `source` must stay valid while the handler is used.
  using StatsSource = std::function<void(std::map<std::string, std::int64_t>&)>;
  void AddStatsSource(StatsSource source) { stats_sources_.push_back(std::move(source)); }

  // Answers `op` with `answer` (ops that need what only the daemon has, such
  // as the RocksDB store's backups). An error Status becomes the refusal.
  using OpAnswer = std::function<common::Result<schemas::ControlReply>(const schemas::ControlRequest&)>;
  void AddOp(std::string_view op, OpAnswer answer) { extra_ops_[std::string(op)] = std::move(answer); }

 private:
  schemas::ControlReply Answer(const schemas::ControlRequest& request);
  // The newest seq that is written (and so may be announced).
  std::uint64_t WrittenSeq();

  RunManager& manager_;
  Store& store_;
  TeamRegistry& teams_;
  std::vector<StatsSource> stats_sources_;
  std::map<std::string, OpAnswer, std::less<>> extra_ops_;
  int max_backfill_days_;
};

}  // namespace broker
