// World: one state of the interleaving checker's model. The real broker
// core (RunManager and RunnerProtocol over a MemoryStore) and two real
// Runner cores (over ModelHosts) share a FakeClock and talk through a
// modelled network instead of sockets: per direction and runner, a queue of
// messages in flight, any of which may be delivered once the ones before it
// have been overtaken at most kMaxOvertake times. One team, one manual run.
//
// Faults, each within a budget per ordering: a message duplicated, one
// dropped, one broker restart (a new RunManager over the same store, as
// after kill -9), one runner restart (a new Runner with the same id and
// nothing held; its pipelines are gone), and one intruder (a peer that says
// hello under its own id and sends a `promoted` success echoing a token it
// sniffed on the wire). Worlds cannot be copied, so the checker rebuilds one by
// replaying its actions: everything here is deterministic, and the random
// dispatch tokens are only ever compared, so the model names each token by
// its attempt.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/memory_store.h"
#include "broker/run_manager.h"
#include "broker/team_registry.h"
#include "runner/runner.h"
#include "tests/interleaving/model_host.h"
#include "tests/support/fake_clock.h"

namespace interleaving {

inline constexpr int kRunners = 2;
inline constexpr int kMaxOvertake = 2;  // later messages that may pass one
// A message in flight longer than this is lost, not delivered late: the
// model's network is slow, not a partition (partitions are silence, which
// the broker and the runner detect). Below the broker's dispatch deadline.
inline constexpr std::chrono::milliseconds kMaxLatency{2000};

struct Budget {
  int duplicates = 1;
  int drops = 1;
  int broker_restarts = 1;
  int runner_restarts = 1;
  int intruders = 1;
};

struct Action {
  enum class Kind { kDeliver, kDuplicate, kDrop, kAdvance, kExit, kBrokerRestart,
                    kRunnerRestart, kIntrude };
  Kind kind = Kind::kAdvance;
  int channel = 0;  // deliver, duplicate, drop: see World::ChannelName
  int index = 0;    // position in the channel
  int runner = 0;   // exit, runner restart
  pid_t pid = 0;    // exit
  int code = 0;     // exit
};

class World {
 public:
  // Channels 0..kRunners-1 carry runner r's messages to the broker;
  // kRunners..2*kRunners-1 the broker's to runner r - kRunners.
  static constexpr int kChannels = 2 * kRunners;

  // `root` is an empty folder for the runners' team trees.
  World(const std::string& root, Budget budget);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // What may happen next, in a fixed order.
  std::vector<Action> Enabled() const;
  void Apply(const Action& a);
  // Describes `a` as applied to this world (before Apply), for traces.
  std::string Describe(const Action& a) const;
  // A hash of everything that decides what can happen from here.
  std::uint64_t Hash() const;

  // The first safety invariant broken, if one is (checked after each step).
  std::optional<std::string> Violation() const;
  // Nothing left to happen but heartbeats: the run ended and was answered.
  bool Quiescent() const;
  // From here without faults (deliver in order, pipelines succeed, time
  // moves) until quiescent; then the run must have ended exactly once, with
  // only its succeeded attempt's outputs published. The problem, if any.
  std::optional<std::string> CompleteAndCheck();

 private:
  struct Message {
    std::string text;  // canonical form: what hashing and traces see
    schemas::RunnerMessage up;
    schemas::BrokerMessage down;
    int overtaken = 0;
    bool heartbeat = false;
    common::Clock::Mono sent_at{};
  };
  static std::string ChannelName(int channel);
  std::string RunnerId(int r) const;
  std::string Canon(const std::string& token) const;
  std::string Text(const schemas::RunnerMessage& m) const;
  std::string Text(const schemas::BrokerMessage& m) const;
  void Push(int channel, Message m);
  void StartBroker();
  void StartRunner(int r);
  void Collect();  // the broker's outbox onto the wire and the bus
  void DeliverAt(int channel, int index);
  void Advance();
  std::chrono::milliseconds UntilNextDeadline() const;
  void Intrude();
  std::size_t LivePipelines() const;
  std::vector<std::string> PublishedOutputs() const;
  common::Result<schemas::RunRecord> StoredRun() const;
  std::string StoreText() const;
  void Note(std::uint64_t& history, const std::string& input) const;
  bool Background(const Message& m) const;
  // Notes an attempt ended on a result while its pipeline still runs.
  void CheckEnd(const schemas::RunEvent& e);

  std::string root_;
  Budget budget_;
  testing::FakeClock clock_;
  std::unique_ptr<broker::MemoryStore> store_;
  std::unique_ptr<broker::TeamRegistry> teams_;
  std::unique_ptr<broker::RunManager> manager_;
  std::array<std::unique_ptr<ModelHost>, kRunners> hosts_;
  std::array<std::unique_ptr<runner::Runner>, kRunners> runners_;
  std::array<std::deque<Message>, kChannels> wire_;
  std::map<std::string, std::string> token_names_;  // token -> "T<attempt>"
  std::string sniffed_;                             // a token seen on the wire
  std::string run_id_;
  // What each side received, in order, as hashes: the state of a
  // deterministic core is a function of its inputs, and these let the
  // checker merge orderings that differ only in how independent steps
  // interleave. The broker's starts from its store at its last restart.
  std::uint64_t broker_history_ = 0;
  std::array<std::uint64_t, kRunners> runner_history_{};
  int terminal_events_ = 0;    // run.completed/failed/... published
  std::string terminal_;       // the last terminal event's name
  std::string protocol_error_;  // a Runner step that failed
  std::string ended_live_;      // see CheckEnd
  Budget used_{0, 0, 0, 0, 0};  // what this ordering spent
};

}  // namespace interleaving
