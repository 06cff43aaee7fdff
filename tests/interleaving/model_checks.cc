// What the model checks in each state and at the end of each ordering, and
// how it names states (hash) and steps (traces).
#include <filesystem>
#include <fstream>
#include <functional>

#include "schemas/vocabulary.h"
#include "tests/interleaving/model_world.h"

namespace interleaving {

namespace {

// Fault-free steps a completion may take before the run counts as stuck.
constexpr int kCompletionSteps = 400;

}  // namespace

std::string World::Describe(const Action& a) const {
  using K = Action::Kind;
  const std::string at = "t=" + std::to_string(clock_.Now().time_since_epoch() /
                                               std::chrono::milliseconds(1)) + "ms ";
  switch (a.kind) {
    case K::kDeliver:
    case K::kDuplicate:
    case K::kDrop: {
      const char* verb = a.kind == K::kDeliver ? "deliver" : a.kind == K::kDrop ? "DROP" : "DUPLICATE";
      return at + verb + " " + ChannelName(a.channel) + " [" + std::to_string(a.index) + "]: " +
             wire_[a.channel][a.index].text;
    }
    case K::kAdvance:
      return at + "advance the clock " + std::to_string(UntilNextDeadline().count()) + " ms";
    case K::kExit:
      return at + RunnerId(a.runner) + "'s pipeline exits " + std::to_string(a.code);
    case K::kBrokerRestart:
      return at + "RESTART the broker";
    case K::kRunnerRestart:
      return at + "RESTART " + RunnerId(a.runner);
    case K::kIntrude:
      return at + "INTRUDER says hello and sends `promoted` succeeded with sniffed token " +
             Canon(sniffed_);
  }
  return at + "?";
}

common::Result<schemas::RunRecord> World::StoredRun() const {
  if (common::Status s = manager_->Persist(); !s.ok()) return s;
  return store_->GetRun(run_id_);
}

std::string World::StoreText() const {
  auto run = StoredRun();
  if (!run.ok()) return "no run";
  const schemas::RunRecord& r = run.value();
  return std::string(schemas::Name(r.state)) + " #" + std::to_string(r.attempt) + " " +
         r.runner_id + " " + Canon(r.token) + " next=" + std::to_string(r.next_attempt_unix_ms) +
         " exit=" + std::to_string(r.exit_code) + " " + r.error;
}

std::uint64_t World::Hash() const {
  std::string s = std::to_string(broker_history_);
  for (std::uint64_t h : runner_history_) s += "|" + std::to_string(h);
  for (const auto& q : wire_) {
    s += "|";
    for (const Message& m : q) {
      s += m.text + "^" + std::to_string(m.overtaken) + "@" +
           std::to_string(m.sent_at.time_since_epoch().count()) + ";";
    }
  }
  s += "|" + std::to_string(used_.duplicates) + std::to_string(used_.drops) +
       std::to_string(used_.broker_restarts) + std::to_string(used_.runner_restarts) +
       std::to_string(used_.intruders) + "|" + std::to_string(terminal_events_) + "|" +
       std::to_string(clock_.Now().time_since_epoch().count());
  return std::hash<std::string>{}(s);
}

std::size_t World::LivePipelines() const {
  std::size_t n = 0;
  for (const auto& host : hosts_) n += host->Live().size();
  return n;
}

std::vector<std::string> World::PublishedOutputs() const {
  std::vector<std::string> out;
  const std::filesystem::path marker =
      std::filesystem::path(root_) / "out" / "sales_team_1" / "output" / kMarker;
  std::ifstream in(marker);
  std::string who;
  if (in && std::getline(in, who)) out.push_back(who);
  return out;
}

void World::CheckEnd(const schemas::RunEvent& e) {
  // An attempt the broker ends on a result (not as lost) must have exited:
  // otherwise something other than its pipeline spoke for it.
  const schemas::RunRecord& run = e.run;
  if (run.state != schemas::RunState::kRetryWait && !schemas::IsTerminal(run.state)) return;
  for (const char* lost : {"lost", "stopped answering", "did not start", "claimed", "left",
                           "cancel"}) {
    if (run.error.find(lost) != std::string::npos) return;
  }
  const std::string name = run_id_ + "." + std::to_string(run.attempt);
  for (const auto& host : hosts_) {
    for (pid_t pid : host->Live()) {
      if (std::filesystem::path(host->pipelines().at(pid).staging).filename() == name &&
          ended_live_.empty()) {
        ended_live_ = "attempt " + std::to_string(run.attempt) + " was recorded " +
                      std::string(schemas::Name(run.state)) + " while its pipeline still ran";
      }
    }
  }
}

std::optional<std::string> World::Violation() const {
  if (!protocol_error_.empty()) return "a core failed: " + protocol_error_;
  if (!ended_live_.empty()) return ended_live_;
  if (LivePipelines() > 1) {
    std::string who;
    for (int r = 0; r < kRunners; ++r) {
      for (pid_t pid : hosts_[r]->Live()) {
        who += " " + RunnerId(r) + ":" +
               std::filesystem::path(hosts_[r]->pipelines().at(pid).staging).filename().string();
      }
    }
    return "two live attempts of the run at once:" + who;
  }
  if (terminal_events_ > 1) return "the run was announced terminal twice (last: " + terminal_ + ")";
  return std::nullopt;
}

bool World::Quiescent() const {
  if (terminal_events_ == 0 || LivePipelines() != 0) return false;
  for (const auto& r : runners_) {
    if (r->running() != 0 || r->unacknowledged() != 0) return false;
  }
  for (const auto& q : wire_) {
    for (const Message& m : q) {
      if (!Background(m)) return false;
    }
  }
  return true;
}

std::optional<std::string> World::CompleteAndCheck() {
  for (int step = 0; step < kCompletionSteps && !Quiescent(); ++step) {
    if (auto v = Violation()) return v;
    bool moved = false;
    for (int c = 0; c < kChannels && !moved; ++c) {
      if (!wire_[c].empty()) {
        DeliverAt(c, 0);
        moved = true;
      }
    }
    for (int r = 0; r < kRunners && !moved; ++r) {
      for (pid_t pid : hosts_[r]->Live()) {
        hosts_[r]->Exit(pid, 0);
        (void)runners_[r]->Step();
        moved = true;
        break;
      }
    }
    if (!moved) Advance();
  }
  if (auto v = Violation()) return v;
  auto run = StoredRun();
  if (!run.ok()) return "the run cannot be read: " + run.status().message();
  const schemas::RunRecord& r = run.value();
  const std::string state(schemas::Name(r.state));
  if (!Quiescent()) {
    return "no end after " + std::to_string(kCompletionSteps) + " fault-free steps: the run is " +
           state + " (attempt " + std::to_string(r.attempt) + ")";
  }
  if (terminal_events_ != 1) return "terminal events: " + std::to_string(terminal_events_);
  if (!schemas::IsTerminal(r.state)) return "announced " + terminal_ + " but stored " + state;
  const std::vector<std::string> outputs = PublishedOutputs();
  const std::string winner = run_id_ + "." + std::to_string(r.attempt);
  if (r.state == schemas::RunState::kSucceeded) {
    if (outputs != std::vector<std::string>{winner}) {
      return "succeeded at attempt " + std::to_string(r.attempt) + " but the published outputs are " +
             (outputs.empty() ? std::string("none") : "attempt " + outputs[0] + "'s");
    }
  } else if (!outputs.empty()) {
    return "ended " + state + " but attempt " + outputs[0] + "'s outputs were published";
  }
  return std::nullopt;
}

}  // namespace interleaving
