// The history half of the RunManager: the event log and the run records
// past their retention, archived (event_archive.h) and then pruned, in
// slices, from the loop's Tick. run_manager.cc holds the live runs.
#include <spdlog/spdlog.h>

#include "broker/run_manager.h"

namespace broker {

using common::Status;
using schemas::RunRecord;

void RunManager::PruneEventLog(common::Clock::Mono now) {
  // In slices, so a long backlog never holds up the loop for long.
  constexpr std::size_t kPruneSlice = 20'000;
  next_prune_ = now + std::chrono::milliseconds(3'600'000);
  if (!journal_.no_space().ok()) return;  // pruning writes too, and the archive needs room
  const std::int64_t cutoff = WallMs() - settings_.event_retention.count();
  std::size_t slice = kPruneSlice;
  if (archive_ != nullptr) {
    // What goes is archived first; if it cannot be, nothing goes.
    auto oldest = store_.EventsAfter(0, kPruneSlice);
    if (!oldest.ok()) {
      spdlog::error("event log retention: {}", oldest.status().ToString());
      return;
    }
    auto newest = store_.LastSeq();
    if (!newest.ok()) {
      spdlog::error("event log retention: {}", newest.status().ToString());
      return;
    }
    // Exactly what PruneEventsBefore removes: the old ones up to, not
    // including, the newest (the log keeps it to carry the seq on).
    std::vector<schemas::LoggedEvent> old;
    for (schemas::LoggedEvent& e : oldest.value()) {
      if (e.at_unix_ms >= cutoff || e.seq == newest.value()) break;
      old.push_back(std::move(e));
    }
    if (old.empty()) return;
    if (common::Status s = archive_->Append(old); !s.ok()) {
      spdlog::error("event log retention: not pruning, the archive in {} cannot be written: {}",
                    archive_->dir(), s.message());
      return;
    }
    slice = old.size();
  }
  auto pruned = store_.PruneEventsBefore(cutoff, slice);
  if (pruned.ok() && pruned.value() == kPruneSlice) next_prune_ = now + std::chrono::milliseconds(200);
  if (!pruned.ok()) {
    spdlog::error("event log retention: {}", pruned.status().ToString());
  } else if (pruned.value() > 0) {
    spdlog::info("event log retention: {} events older than {} days pruned{}", pruned.value(),
                 settings_.event_retention.count() / 86'400'000,
                 archive_ != nullptr ? " (archived in " + archive_->dir() + ")" : "");
  }
}

void RunManager::ArchiveRunHistory(common::Clock::Mono now) {
  // In slices, like the event log; runs go only once the archive has them.
  constexpr std::size_t kArchiveSlice = 1'000;
  next_run_archive_ = now + std::chrono::milliseconds(3'600'000);
  if (!journal_.no_space().ok()) return;
  auto through = store_.RunsArchivedThrough();
  if (!through.ok()) {
    spdlog::error("run history retention: {}", through.status().ToString());
    return;
  }
  auto runs = store_.RunsAfter(through.value(), kArchiveSlice);
  if (!runs.ok()) {
    spdlog::error("run history retention: {}", runs.status().ToString());
    return;
  }
  const std::int64_t cutoff = WallMs() - settings_.run_retention.count();
  std::vector<RunRecord> old;
  std::string last = through.value();
  bool more = runs.value().size() == kArchiveSlice;
  for (const RunRecord& run : runs.value()) {
    // Run ids follow acceptance: the first young run ends the old ones.
    if (run.accepted_unix_ms >= cutoff) {
      more = false;
      break;
    }
    if (!schemas::IsTerminal(run.state)) {
      // The sweep waits for it (runs end by their timeouts long before).
      spdlog::warn("run history retention: run {} is {} after {} days; archiving waits for it",
                   run.run_id, schemas::Name(run.state), (WallMs() - run.accepted_unix_ms) / 86'400'000);
      more = false;
      break;
    }
    last = run.run_id;
    if (run.archived) continue;
    old.push_back(run);
  }
  if (last == through.value()) return;
  if (Status s = archive_->AppendRuns(old); !s.ok()) {
    spdlog::error("run history retention: not archiving, the archive in {} cannot be written: {}",
                  archive_->dir(), s.message());
    return;
  }
  if (Status s = store_.ArchiveRuns(old, last); !s.ok()) {
    spdlog::error("run history retention: {}", s.ToString());
    return;
  }
  if (more) next_run_archive_ = now + std::chrono::milliseconds(200);
  spdlog::info("run history retention: {} runs accepted more than {} days ago archived in {}",
               old.size(), settings_.run_retention.count() / 86'400'000, archive_->dir());
}

}  // namespace broker
