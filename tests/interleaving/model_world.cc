// The model's moves: building the world, the network, and each action.
// What counts as a violation is in model_checks.cc.
#include "tests/interleaving/model_world.h"

#include <filesystem>
#include <functional>

#include "schemas/codec.h"
#include "schemas/vocabulary.h"

namespace interleaving {

using namespace std::chrono_literals;
namespace runner_msg = schemas::runner_msg;
namespace broker_msg = schemas::broker_msg;

namespace {

broker::Settings BrokerSettings() {
  broker::Settings s;
  s.misfire_grace = 3600s;
  s.retry.initial = 1s;  // short, so a retry fits in the bounded depth
  s.retry.max = 2s;
  s.no_success_alert = 0ms;
  s.event_retention = 0ms;
  s.heartbeat = 1000ms;
  s.heartbeat_liveness = 3;
  s.dispatch_timeout = 3000ms;
  s.jitter_seed = 7;
  return s;
}

constexpr std::uint32_t kTeam = 1;

}  // namespace

World::World(const std::string& root, Budget budget) : root_(root), budget_(budget) {
  std::filesystem::create_directories(root_ + "/in/sales_team_1/files_required");
  std::filesystem::create_directories(root_ + "/logs");
  store_ = std::make_unique<broker::MemoryStore>();
  StartBroker();
  schemas::TeamRecord team;
  team.id = kTeam;
  team.name = "team 1";
  team.max_attempts = 3;
  (void)manager_->PutTeam(team);
  schemas::DueEvent due;
  due.team = kTeam;
  due.kind = "manual";
  due.requested_by = "interleaving";
  run_id_ = manager_->Admit(due).run.run_id;
  Collect();
  for (int r = 0; r < kRunners; ++r) StartRunner(r);
}

World::~World() {
  for (int r = 0; r < kRunners; ++r) {
    if (hosts_[r]) hosts_[r]->KillAll();
    runners_[r].reset();
  }
}

std::string World::ChannelName(int channel) {
  const std::string runner = channel % kRunners == 0 ? "runner-a" : "runner-b";
  return channel < kRunners ? runner + "->broker" : "broker->" + runner;
}

std::string World::RunnerId(int r) const { return r == 0 ? "runner-a" : "runner-b"; }

void World::Note(std::uint64_t& history, const std::string& input) const {
  history = std::hash<std::string>{}(std::to_string(history) + "|" + input + "@" +
                                     std::to_string(clock_.Now().time_since_epoch().count()));
}

std::string World::Canon(const std::string& token) const {
  if (token.empty()) return "";
  auto it = token_names_.find(token);
  return it == token_names_.end() ? "T?" : it->second;
}

std::string World::Text(const schemas::RunnerMessage& m) const {
  std::string t = m.type;
  if (!m.run_id.empty()) t += " #" + std::to_string(m.attempt) + " " + Canon(m.token);
  if (!m.outcome.empty()) t += " " + m.outcome;
  if (m.type == runner_msg::kHello) t += " slots=" + std::to_string(m.slots);
  for (const auto& l : m.holding) t += " holds#" + std::to_string(l.attempt) + Canon(l.token);
  for (const auto& l : m.finished) t += " done#" + std::to_string(l.attempt) + Canon(l.token);
  return t;
}

std::string World::Text(const schemas::BrokerMessage& m) const {
  std::string t = m.type;
  if (!m.run_id.empty()) t += " #" + std::to_string(m.attempt) + " " + Canon(m.token);
  if (!m.key.empty()) t += " " + m.key;
  if (!m.error.empty()) t += " (not counted)";
  return t;
}

bool World::Background(const Message& m) const {
  return m.heartbeat || (m.down.type == broker_msg::kWelcome && m.down.key.empty());
}

void World::Push(int channel, Message m) {
  auto& q = wire_[channel];
  // One copy of a message in flight stands for its resends (a second copy
  // is what the duplicate fault explores), and at most two heartbeats are
  // in flight per direction: an older one is dropped for the newer.
  for (const Message& other : q) {
    if (other.text == m.text) return;
  }
  if (m.heartbeat) {
    int beats = 0;
    for (const Message& other : q) beats += other.heartbeat ? 1 : 0;
    if (beats >= 2) {
      for (auto it = q.begin(); it != q.end(); ++it) {
        if (it->heartbeat) {
          q.erase(it);
          break;
        }
      }
    }
  }
  m.sent_at = clock_.Now();
  q.push_back(std::move(m));
}

void World::StartBroker() {
  teams_ = std::make_unique<broker::TeamRegistry>(broker::TeamDefaults{});
  manager_ = std::make_unique<broker::RunManager>(*store_, *teams_, clock_, BrokerSettings());
  if (common::Status s = manager_->Load(); !s.ok()) protocol_error_ = "Load: " + s.message();
  Collect();
}

void World::StartRunner(int r) {
  runner::RunnerSettings s;
  s.runner_id = RunnerId(r);
  s.deployment = "interleaving";
  s.slots = 1;
  s.default_command = {"pipeline"};
  s.input_root = root_ + "/in";
  s.output_root = root_ + "/out";
  s.log_dir = root_ + "/logs";
  s.heartbeat = 1000ms;
  s.heartbeat_liveness = 3;
  s.kill_grace = 10s;
  if (hosts_[r]) hosts_[r]->KillAll();  // kill -9: its pipelines die with it
  runners_[r].reset();
  hosts_[r] = std::make_unique<ModelHost>();
  runners_[r] = std::make_unique<runner::Runner>([] { return nullptr; }, *hosts_[r], clock_, s);
  runners_[r]->SetMessageSink([this, r](const schemas::RunnerMessage& m) {
    if (!m.token.empty()) sniffed_ = m.token;
    Message msg;
    msg.up = m;
    msg.text = Text(m);
    msg.heartbeat = m.type == runner_msg::kHeartbeat;
    Push(r, std::move(msg));
  });
  runner_history_[r] = 0;
  Note(runner_history_[r], "start");
  if (common::Status st = runners_[r]->Start(); !st.ok()) protocol_error_ = st.message();
}

void World::Collect() {
  for (broker::Outgoing& out : manager_->TakeOutbox()) {
    if (out.to == broker::Outgoing::To::kRunner) {
      auto m = schemas::DecodeBrokerMessage(out.payload);
      if (!m.ok()) {
        protocol_error_ = "undecodable frame from the broker";
        continue;
      }
      // A prepare (a hello's team folders) changes no run and renews no
      // lease: ordering it among the rest only multiplies the orderings.
      if (m.value().type == broker_msg::kPrepare) continue;
      if (m.value().type == broker_msg::kDispatch) {
        token_names_[m.value().token] = "T" + std::to_string(m.value().attempt);
      }
      for (int r = 0; r < kRunners; ++r) {
        if (out.address != RunnerId(r)) continue;  // the intruder hears nothing
        Message msg;
        msg.down = m.value();
        msg.text = Text(m.value());
        msg.heartbeat = m.value().type == broker_msg::kHeartbeat;
        Push(kRunners + r, std::move(msg));
      }
    } else if (out.address.starts_with("run.")) {
      auto e = schemas::DecodeRunEvent(out.payload);
      if (!e.ok() || e.value().run.run_id != run_id_) continue;
      const std::string& name = e.value().event;
      CheckEnd(e.value());
      if (name == schemas::event::kCompleted || name == schemas::event::kFailed ||
          name == schemas::event::kMissed || name == schemas::event::kSkipped ||
          name == schemas::event::kCancelled) {
        ++terminal_events_;
        terminal_ = name;
      }
    }
  }
  if (!manager_->failure().ok()) protocol_error_ = "store: " + manager_->failure().message();
}

std::vector<Action> World::Enabled() const {
  std::vector<Action> out;
  for (int c = 0; c < kChannels; ++c) {
    const auto& q = wire_[c];
    for (int i = 0; i < static_cast<int>(q.size()); ++i) {
      out.push_back({Action::Kind::kDeliver, c, i});
      if (!Background(q[i])) {
        if (used_.duplicates < budget_.duplicates) out.push_back({Action::Kind::kDuplicate, c, i});
        if (used_.drops < budget_.drops) out.push_back({Action::Kind::kDrop, c, i});
      }
      if (q[i].overtaken >= kMaxOvertake) break;  // nothing after it may pass it again
    }
  }
  for (int r = 0; r < kRunners; ++r) {
    for (pid_t pid : hosts_[r]->Live()) {
      for (int code : {0, 75}) out.push_back({Action::Kind::kExit, 0, 0, r, pid, code});
    }
  }
  out.push_back({Action::Kind::kAdvance});
  if (used_.broker_restarts < budget_.broker_restarts) out.push_back({Action::Kind::kBrokerRestart});
  if (used_.runner_restarts < budget_.runner_restarts) {
    for (int r = 0; r < kRunners; ++r) out.push_back({Action::Kind::kRunnerRestart, 0, 0, r});
  }
  if (used_.intruders < budget_.intruders && !sniffed_.empty()) {
    out.push_back({Action::Kind::kIntrude});
  }
  return out;
}

void World::DeliverAt(int channel, int index) {
  auto& q = wire_[channel];
  const Message m = q[index];
  for (int j = 0; j < index; ++j) ++q[j].overtaken;
  q.erase(q.begin() + index);
  if (channel < kRunners) {
    Note(broker_history_, RunnerId(channel) + ": " + m.text);
    manager_->OnRunnerMessage(RunnerId(channel), m.up);
    Collect();
    return;
  }
  const int r = channel - kRunners;
  Note(runner_history_[r], m.text);
  if (common::Status s = runners_[r]->Handle(m.down); !s.ok()) protocol_error_ = s.message();
  if (common::Status s = runners_[r]->Step(); !s.ok()) protocol_error_ = s.message();
}

std::chrono::milliseconds World::UntilNextDeadline() const {
  auto next = std::chrono::ceil<std::chrono::milliseconds>(manager_->NextDeadline() - clock_.Now());
  for (const auto& r : runners_) next = std::min(next, r->TimeUntilNextDeadline());
  return std::max(next, std::chrono::milliseconds(1));
}

void World::Advance() {
  clock_.Advance(UntilNextDeadline());
  for (auto& q : wire_) {
    std::erase_if(q, [&](const Message& m) { return clock_.Now() - m.sent_at > kMaxLatency; });
  }
  Note(broker_history_, "tick");
  manager_->Tick();
  Collect();
  for (int r = 0; r < kRunners; ++r) {
    Note(runner_history_[r], "tick");
    if (common::Status s = runners_[r]->Step(); !s.ok()) protocol_error_ = s.message();
  }
}

void World::Intrude() {
  schemas::RunnerMessage hello;
  hello.type = runner_msg::kHello;
  hello.runner_id = "intruder";
  hello.protocol = schemas::kWorkProtocol;
  hello.slots = 0;
  schemas::RunnerMessage forged;
  forged.type = runner_msg::kPromoted;
  forged.runner_id = "intruder";
  forged.run_id = run_id_;
  const std::string name = Canon(sniffed_);
  forged.attempt = name.size() > 1 && name[1] != '?' ? std::stoul(name.substr(1)) : 1;
  forged.token = sniffed_;
  forged.outcome = schemas::outcome::kSucceeded;
  forged.exit_code = 0;
  Note(broker_history_, "intruder " + Text(forged));
  manager_->OnRunnerMessage("intruder", hello);
  manager_->OnRunnerMessage("intruder", forged);
  Collect();
}

void World::Apply(const Action& a) {
  using K = Action::Kind;
  switch (a.kind) {
    case K::kDeliver:
      DeliverAt(a.channel, a.index);
      break;
    case K::kDuplicate: {
      ++used_.duplicates;
      Message copy = wire_[a.channel][a.index];
      copy.overtaken = 0;
      wire_[a.channel].push_back(copy);  // the copy arrives later
      break;
    }
    case K::kDrop:
      ++used_.drops;
      wire_[a.channel].erase(wire_[a.channel].begin() + a.index);
      break;
    case K::kAdvance:
      Advance();
      break;
    case K::kExit:
      Note(runner_history_[a.runner], "exit " + std::to_string(a.pid) + " " + std::to_string(a.code));
      hosts_[a.runner]->Exit(a.pid, a.code);
      if (common::Status s = runners_[a.runner]->Step(); !s.ok()) protocol_error_ = s.message();
      break;
    case K::kBrokerRestart:
      ++used_.broker_restarts;
      manager_.reset();
      for (int c = 0; c < kRunners; ++c) wire_[c].clear();  // in the dead broker's buffers
      StartBroker();
      broker_history_ = 0;
      Note(broker_history_, "restart over " + StoreText());
      break;
    case K::kRunnerRestart:
      ++used_.runner_restarts;
      wire_[kRunners + a.runner].clear();  // its connection is gone
      StartRunner(a.runner);
      break;
    case K::kIntrude:
      ++used_.intruders;
      Intrude();
      break;
  }
}

}  // namespace interleaving
