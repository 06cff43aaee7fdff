#include "broker/journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "schemas/codec.h"
#include "schemas/topics.h"

namespace broker {

using common::Result;
using common::Status;
using schemas::RunRecord;

Journal::Journal(Store& store, const common::Clock& clock) : store_(store), clock_(clock) {}

std::int64_t Journal::WallMs() const { return common::ToUnixMs(clock_.WallNow()); }

Status Journal::Load() {
  auto last = store_.LastSeq();
  if (!last.ok()) return last.status();
  next_seq_ = last.value() + 1;
  return Status();
}

schemas::LoggedEvent Journal::MakeEvent(const std::string& topic, std::string payload) {
  schemas::LoggedEvent e;
  e.seq = next_seq_++;
  e.topic = topic;
  e.payload.assign(payload.begin(), payload.end());
  e.at_unix_ms = WallMs();
  return e;
}

schemas::LoggedEvent Journal::MakeAlert(schemas::AlertEvent alert) {
  alert.seq = next_seq_;
  alert.incarnation = store_.incarnation();
  return MakeEvent(schemas::AlertTopic(alert.kind), schemas::Encode(alert));
}

void Journal::RecordRun(const RunRecord& run, std::string_view event, Extras extras) {
  Change change;
  schemas::RunEvent run_event;
  run_event.event = std::string(event);
  run_event.at_unix_ms = WallMs();
  run_event.run = run;
  run_event.seq = next_seq_;
  run_event.incarnation = store_.incarnation();
  change.events.push_back(MakeEvent(schemas::RunTopic(event), schemas::Encode(run_event)));
  for (schemas::AlertEvent& alert : extras.alerts) change.events.push_back(MakeAlert(std::move(alert)));
  change.run = run;
  change.new_run = extras.new_run;
  change.team_status = std::move(extras.team_status);
  RecordChange(std::move(change));
}

void Journal::RecordChange(Change change) {
  store_.Stage(change);
  if (change.run) {
    const RunRecord& run = *change.run;
    staged_runs_[run.run_id] = run;
    if (change.new_run) {
      staged_keys_[run.key] = run.run_id;
      staged_new_runs_[run.team].push_back(run.run_id);
    }
  }
  for (schemas::LoggedEvent& e : change.events) {
    Publish(e.topic, std::string(e.payload.begin(), e.payload.end()));
  }
}

void Journal::Publish(std::string_view topic, std::string payload) {
  outbox_.push_back({Outgoing::To::kBus, std::string(topic), std::move(payload)});
}

void Journal::SendToRunner(const std::string& runner_id, const schemas::BrokerMessage& message) {
  outbox_.push_back({Outgoing::To::kRunner, runner_id, schemas::Encode(message)});
}

void Journal::SendToRunnerNow(const std::string& runner_id, const schemas::BrokerMessage& message) {
  outbox_.push_back({Outgoing::To::kRunner, runner_id, schemas::Encode(message), false});
}

Result<RunRecord> Journal::GetRun(const std::string& run_id) {
  if (auto it = staged_runs_.find(run_id); it != staged_runs_.end()) return it->second;
  return store_.GetRun(run_id);
}

Result<std::string> Journal::FindRunIdByKey(const std::string& key) {
  if (auto it = staged_keys_.find(key); it != staged_keys_.end()) return it->second;
  return store_.FindRunIdByKey(key);
}

Result<std::vector<RunRecord>> Journal::RecentRuns(std::uint32_t team, std::size_t limit) {
  auto stored = store_.ListRuns(team, limit);
  if (!stored.ok()) return stored.status();
  std::vector<RunRecord> runs;
  // Runs first written in this group are newer than anything stored.
  if (auto it = staged_new_runs_.find(team); it != staged_new_runs_.end()) {
    for (auto id = it->second.rbegin(); id != it->second.rend() && runs.size() < limit; ++id) {
      runs.push_back(staged_runs_.at(*id));
    }
  }
  for (RunRecord& run : stored.value()) {
    if (runs.size() == limit) break;
    auto staged = staged_runs_.find(run.run_id);
    runs.push_back(staged != staged_runs_.end() ? staged->second : std::move(run));
  }
  return runs;
}

Status Journal::Persist() {
  if (!failure_.ok()) return failure_;
  if (Status s = store_.Flush(); !s.ok()) {
    if (s.code() == common::Code::kNoSpace) {
      if (no_space_.ok()) {
        spdlog::error("{}; reads are still answered, and what is decided waits in memory "
                      "until it can be written",
                      s.message());
      }
      no_space_ = s;
      return s;
    }
    failure_ = s;
    spdlog::critical("could not write run state: {}; stopping (a restart reloads what was written)",
                     s.ToString());
    return s;
  }
  if (!no_space_.ok()) {
    spdlog::info("space is back: the run store writes again, and {} held messages go out",
                 outbox_.size());
    no_space_ = Status();
  }
  staged_runs_.clear();
  staged_keys_.clear();
  staged_new_runs_.clear();
  return Status();
}

std::vector<Outgoing> Journal::TakeOutbox() {
  std::vector<Outgoing> out;
  if (Status s = Persist(); !s.ok()) {
    if (s.code() != common::Code::kNoSpace) return out;
    // Hold every announcement for the write; let the heartbeats through.
    std::vector<Outgoing> held;
    for (Outgoing& o : outbox_) (o.after_write ? held : out).push_back(std::move(o));
    outbox_.swap(held);
    return out;
  }
  out.swap(outbox_);
  return out;
}

}  // namespace broker
