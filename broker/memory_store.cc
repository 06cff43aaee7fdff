#include "broker/memory_store.h"

#include <algorithm>

namespace broker {

using common::Code;
using common::Result;
using common::Status;

Status MemoryStore::WriteFault() const {
  if (faults_.no_space || faults_.no_space_when_writing) {
    return Status::Error(Code::kNoSpace, "commit: IO error: No space left on device");
  }
  if (faults_.fail_writes) return Status::Error(Code::kIoError, "commit: IO error: write failed");
  return Status();
}

Status MemoryStore::ReadFault() const {
  if (faults_.fail_reads) return Status::Error(Code::kIoError, "read: IO error: read failed");
  return Status();
}

void MemoryStore::Apply(const Change& change) {
  if (change.run) {
    const schemas::RunRecord& run = *change.run;
    runs_[run.run_id] = run;
    if (change.new_run) {
      keys_[run.key] = run.run_id;
      team_runs_[run.team].insert(run.run_id);
    }
    if (schemas::IsTerminal(run.state)) {
      active_.erase(run.run_id);
    } else {
      active_.insert(run.run_id);
    }
  }
  if (change.team_put) teams_[change.team_put->id] = *change.team_put;
  if (change.team_remove) teams_.erase(*change.team_remove);
  if (change.team_status) statuses_[change.team_status->first] = change.team_status->second;
  for (const schemas::LoggedEvent& e : change.events) events_[e.seq] = e;
  for (const schemas::DeadLetter& d : change.dead_letters) dead_letters_[{d.sink, d.seq}] = d;
  for (const auto& key : change.dead_letters_removed) dead_letters_.erase(key);
}

Status MemoryStore::Commit(const Change& change) {
  if (Status s = WriteFault(); !s.ok()) return s;
  Apply(change);
  ++writes_;
  return Status();
}

void MemoryStore::Stage(const Change& change) { staged_.push_back(change); }

void MemoryStore::set_incarnation(std::string incarnation) {
  incarnation_ = std::move(incarnation);
  incarnation_from_ = events_.empty() ? 0 : events_.rbegin()->first;
}

Status MemoryStore::Flush() {
  // Full even with nothing to write, as RocksStore checks the reserve; a
  // staged group is kept for the next Flush.
  if (faults_.no_space) return WriteFault();
  if (staged_.empty()) return Status();
  if (faults_.no_space_when_writing) return WriteFault();
  std::vector<Change> group;
  group.swap(staged_);
  if (Status s = WriteFault(); !s.ok()) return s;  // the whole group is lost, as in RocksDB
  for (const Change& change : group) Apply(change);
  ++writes_;
  return Status();
}

Result<std::vector<schemas::TeamRecord>> MemoryStore::LoadTeams() {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::TeamRecord> out;
  for (const auto& [id, team] : teams_) out.push_back(team);
  return out;
}

Result<std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>> MemoryStore::LoadTeamStatuses() {
  if (Status s = ReadFault(); !s.ok()) return s;
  return std::vector<std::pair<std::uint32_t, schemas::TeamStatus>>(statuses_.begin(), statuses_.end());
}

Result<std::vector<schemas::RunRecord>> MemoryStore::LoadActiveRuns() {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::RunRecord> out;
  for (const std::string& id : active_) out.push_back(runs_.at(id));
  return out;
}

Result<schemas::RunRecord> MemoryStore::GetRun(const std::string& run_id) {
  if (Status s = ReadFault(); !s.ok()) return s;
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return Status::Error(Code::kNotFound, "run " + run_id + " not found");
  return it->second;
}

Result<std::string> MemoryStore::FindRunIdByKey(const std::string& key) {
  if (Status s = ReadFault(); !s.ok()) return s;
  auto it = keys_.find(key);
  if (it == keys_.end()) return Status::Error(Code::kNotFound, "no run with this key");
  return it->second;
}

Result<std::vector<schemas::RunRecord>> MemoryStore::ListRuns(std::optional<std::uint32_t> team,
                                                              std::size_t limit) {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::RunRecord> out;
  auto take = [&](const std::string& id) {
    if (out.size() < limit) out.push_back(runs_.at(id));
  };
  if (team) {
    auto it = team_runs_.find(*team);
    if (it != team_runs_.end()) {
      for (auto id = it->second.rbegin(); id != it->second.rend(); ++id) take(*id);
    }
  } else {
    for (auto it = runs_.rbegin(); it != runs_.rend() && !it->second.archived; ++it) take(it->first);
  }
  return out;
}

Result<std::vector<schemas::RunRecord>> MemoryStore::RunsAfter(const std::string& after,
                                                               std::size_t limit) {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::RunRecord> out;
  for (auto it = runs_.upper_bound(after); it != runs_.end() && out.size() < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

Status MemoryStore::ArchiveRuns(const std::vector<schemas::RunRecord>& runs,
                                const std::string& through) {
  if (Status s = WriteFault(); !s.ok()) return s;
  ++writes_;
  for (const schemas::RunRecord& run : runs) {
    runs_[run.run_id] = ArchivedStub(run);
    team_runs_[run.team].erase(run.run_id);
  }
  archived_through_ = through;
  return Status();
}

Result<std::string> MemoryStore::RunsArchivedThrough() {
  if (Status s = ReadFault(); !s.ok()) return s;
  return archived_through_;
}

Result<std::vector<schemas::LoggedEvent>> MemoryStore::EventsAfter(std::uint64_t after,
                                                                   std::size_t limit) {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::LoggedEvent> out;
  for (auto it = events_.upper_bound(after); it != events_.end() && out.size() < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

Result<std::size_t> MemoryStore::PruneEventsBefore(std::int64_t cutoff_unix_ms, std::size_t max_count) {
  if (Status s = WriteFault(); !s.ok()) return s;
  std::size_t removed = 0;
  while (events_.size() > 1 && removed < max_count &&
         events_.begin()->second.at_unix_ms < cutoff_unix_ms) {
    events_.erase(events_.begin());
    ++removed;
  }
  return removed;
}

Result<std::vector<schemas::DeadLetter>> MemoryStore::DeadLetters(const std::string& sink,
                                                                   std::size_t limit) {
  if (Status s = ReadFault(); !s.ok()) return s;
  std::vector<schemas::DeadLetter> out;
  for (const auto& [key, letter] : dead_letters_) {
    if (limit != 0 && out.size() == limit) break;
    if (sink.empty() || key.first == sink) out.push_back(letter);
  }
  return out;
}

Result<schemas::DeadLetter> MemoryStore::GetDeadLetter(const std::string& sink, std::uint64_t seq) {
  if (Status s = ReadFault(); !s.ok()) return s;
  auto it = dead_letters_.find({sink, seq});
  if (it == dead_letters_.end()) return Status::Error(Code::kNotFound, "no dead letter");
  return it->second;
}

Result<std::uint64_t> MemoryStore::LastSeq() {
  if (Status s = ReadFault(); !s.ok()) return s;
  return events_.empty() ? std::uint64_t{0} : events_.rbegin()->first;
}

Result<std::uint64_t> MemoryStore::LastRunNumber() {
  if (Status s = ReadFault(); !s.ok()) return s;
  return runs_.empty() ? std::uint64_t{0} : std::stoull(runs_.rbegin()->first.substr(1));
}

}  // namespace broker
