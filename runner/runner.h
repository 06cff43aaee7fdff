// Runner: takes runs from the broker over a DEALER socket, runs each as an
// isolated child in the team's folders, enforces its timeout, and reports
// the result until the broker acknowledges it. It heartbeats the broker and
// says hello again (with the runs it holds) whenever the broker goes quiet.
// Sockets come from a factory and processes from a ProcessHost, so the
// whole protocol can be tested over inproc:// with a fake host.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "runner/process_host.h"
#include "runner/runner_metrics.h"
#include "runner/sandbox.h"
#include "runner/workspace.h"
#include "schemas/messages.h"

namespace runner {

struct RunnerSettings {
  std::string runner_id;
  // Names the deployment its pipelines belong to (DAYBREAK_DEPLOYMENT), so
  // a sweep never touches another deployment's runs on the same host.
  std::string deployment;
  std::uint32_t slots = 1;
  std::vector<std::string> default_command;
  std::string input_root;
  std::string output_root;
  std::string log_dir;
  std::chrono::milliseconds heartbeat{1000};
  int heartbeat_liveness = 3;
  std::chrono::seconds run_timeout{3600};
  std::chrono::seconds kill_grace{10};
  std::chrono::seconds drain_timeout{60};
  bool noop = false;  // benchmarks: report success without spawning
  // The walls around each pipeline (runner/sandbox.h): Landlock when
  // isolation is not "off" and the kernel has it (landlock_abi > 0).
  std::string isolation = "auto";
  int landlock_abi = 0;
  std::vector<std::string> sandbox_read;   // read and execute, for every team
  std::vector<std::string> sandbox_write;  // writable, for every team
  std::uint32_t memory_max_mb = 0;         // per run unless its team says; 0: none
  double cpu_max = 0;                      // CPUs per run (cgroup cpu.max, else RLIMIT_CPU); 0: none
  std::vector<std::string> pass_env;       // more variables pipelines inherit
  // Who pipelines run as (resolved at start from runner.run_as_user), or
  // with team_uid_base > 0 team N as uid/gid base + N; neither: the runner.
  std::optional<Owner> run_as;
  std::uint32_t team_uid_base = 0;
};

// Without an exit descriptor from the host, child exits are noticed by
// polling at least this often while runs are going.
inline constexpr std::chrono::milliseconds kExitPollInterval{100};
// A dispatch without a lease gets heartbeat x liveness, and this grace.
inline constexpr std::chrono::milliseconds kDefaultLeaseGrace{2000};

class Runner {
 public:
  // Returns a fresh DEALER connected to the broker, with routing id
  // `runner_id` (the broker knows runners by it), or throws zmq::error_t.
  // Called once at start and again at every reconnect.
  using SocketFactory = std::function<std::unique_ptr<zmq::socket_t>()>;

  // `host` and `clock` are borrowed and must outlive the Runner.
  Runner(SocketFactory connect, ProcessHost& host, const common::Clock& clock,
         RunnerSettings settings);
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  // Releases every run still going: the host kills their groups.
  ~Runner();

  // Start(), then Turn() until it is done: serves until `stop` is set, then
  // drains (finishes or stops its runs, waits for their acks) and says bye.
  // Returns an error if the socket fails or the broker refuses us.
  common::Status Run(const std::atomic<bool>& stop);

  // The pieces of Run, for a caller that drives the loop itself (tests).
  // Start makes the socket and says hello; an error if the factory failed.
  common::Status Start();
  // One turn of the loop. REQUIRES: Start() succeeded. Waits up to
  // min(`max_wait`, TimeUntilNextDeadline()) for the broker or a child exit,
  // handles what arrived and what is due, and starts draining once `stop`
  // is true. Returns false after saying bye (drained), or an error as Run.
  common::Result<bool> Turn(bool stop, std::chrono::milliseconds max_wait);
  // How long the loop may sleep: until the nearest run deadline, kill,
  // heartbeat, result resend, reconnect or drain step, within [0, heartbeat].
  std::chrono::milliseconds TimeUntilNextDeadline() const;

  // The transport seam, for a test that drives the runner with no socket
  // (tests/interleaving). With a sink set, Send hands each message (runner
  // id filled in, text escaped) to `sink` instead of the DEALER, and Start
  // and reconnects make no socket; the caller feeds the broker's messages to
  // Handle() and calls Step() instead of Turn(). Without one, nothing
  // changes: the socket path is the default. Set it before Start().
  using MessageSink = std::function<void(const schemas::RunnerMessage&)>;
  void SetMessageSink(MessageSink sink) { sink_ = std::move(sink); }
  // Acts on one broker message, as when its frame arrives on the socket.
  // Returns an error only for `refused` (as Turn would).
  common::Status Handle(const schemas::BrokerMessage& m);
  // The part of a turn after the poll: reap exits, enforce deadlines,
  // heartbeat, resend results, reconnect after a silent broker.
  common::Status Step();

  // Runs going on here now.
  std::size_t running() const { return jobs_.size(); }
  // Results sent and not yet acknowledged.
  std::size_t unacknowledged() const { return unacked_.size(); }
  // Where what it does is counted (null, the default: nowhere). Borrowed.
  void set_metrics(RunnerMetrics* metrics) { metrics_ = metrics; }

 private:
  struct Job {
    schemas::BrokerMessage dispatch;
    pid_t pid = -1;
    Workspace workspace;
    std::string log_path;
    common::Clock::Mono deadline{};
    std::chrono::seconds timeout{};
    std::optional<common::Clock::Mono> kill_at;  // set once TERM was sent
    bool killed = false;                         // KILL was sent too
    std::string stop_reason;                     // why we signalled it, if we did
    bool disowned = false;  // the broker cancelled it: its lease is left to lapse
    std::uint32_t memory_mb = 0;  // its limit; 0: none
    std::uint32_t cpu_seconds = 0;  // its RLIMIT_CPU where no cgroup throttles it; 0: none
    std::optional<Owner> owner;   // who its pipeline runs as
  };
  struct Unacked {
    schemas::RunnerMessage result;  // a result, or once promoted, `promoted`
    common::Clock::Mono sent_at;
    std::optional<Workspace> staged;  // a success's outputs, until promote
    std::chrono::milliseconds lease{0};  // its attempt's: the promote must come within it
  };

  // "run#attempt": the key of unacked_.
  static std::string Key(const std::string& run_id, std::uint32_t attempt);
  // A result for `dispatch`'s attempt, echoing its token.
  static schemas::RunnerMessage ResultFor(const schemas::BrokerMessage& dispatch);
  common::Status Connect();
  void Send(const schemas::RunnerMessage& message);
  void SendHello();
  // The attempts held here and the results awaiting their ack, as leases.
  void AddLeases(schemas::RunnerMessage& message) const;
  // Receives one frame from the socket, decodes it and Handle()s it.
  common::Status HandleBrokerMessage();
  // False for a dispatch already received (its token seen before).
  bool FirstSight(const schemas::BrokerMessage& dispatch);
  void StartJob(const schemas::BrokerMessage& dispatch);
  void StopJob(Job& job, const std::string& reason);
  void ReapChildren();
  // `run_id` by value: callers pass the key of the job this erases.
  void FinishJob(std::string run_id, int wait_status);
  void Report(schemas::RunnerMessage result, std::optional<Workspace> staged = std::nullopt,
              std::chrono::milliseconds lease = std::chrono::milliseconds(0));
  // The lease the dispatch gives its attempt (or our default).
  std::chrono::milliseconds LeaseOf(const schemas::BrokerMessage& dispatch) const;
  // When we sent the message `m` answers (BrokerMessage.seen_seq): now for
  // a broker that does not say; nullopt for another process's message or
  // one too old to be remembered.
  std::optional<common::Clock::Mono> SentAt(const schemas::BrokerMessage& m) const;
  // The broker confirmed a success is current: promote it and say so.
  void PromoteConfirmed(const schemas::BrokerMessage& m);
  void EnforceDeadlines();
  void KillOrphans();
  // The sandbox of `job`'s pipeline (runner/sandbox.h) from its dispatch,
  // its folders and the settings.
  sandbox::Rules WallsFor(const Job& job, const SpawnSpec& spec) const;
  void KillLeftoversOf(const std::string& run_id);
  // Renews the leases of the jobs the broker still counts as ours, if `m`
  // shows it still has us (runner_jobs.cc says which messages do).
  void RenewLeases(const schemas::BrokerMessage& m);
  // Kills what an earlier runner of this id and deployment left here.
  void SweepLeftovers();
  bool IsJobLeader(pid_t pid) const;
  common::Status Housekeeping();
  // false when the drain is over and it is time to say bye.
  bool StepDrain();
  // A broker's prepare: its teams' folders are made a few per turn
  // (MakeTeamFolders), so a hello's every-team list holds up no heartbeat.
  void QueueTeamFolders(const schemas::BrokerMessage& prepare);
  void MakeTeamFolders();

  SocketFactory connect_;
  MessageSink sink_;  // set: messages go here, not to a socket
  RunnerMetrics* metrics_ = nullptr;
  ProcessHost& host_;
  const common::Clock& clock_;
  RunnerSettings settings_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::map<std::string, Job> jobs_;         // by run id
  std::map<std::string, Unacked> unacked_;  // results, by run#attempt
  // Dispatches of a newer attempt waiting for the older one here to exit.
  std::map<std::string, schemas::BrokerMessage> superseding_;
  // Tokens of the latest dispatches, to drop a duplicate of one.
  static constexpr std::size_t kSeenDispatches = 65536;
  std::unordered_set<std::string> seen_dispatches_;
  // What every sandbox allows (sandbox::SystemRules), found once.
  std::vector<sandbox::Rule> system_rules_;
  std::deque<std::string> seen_order_;
  // Stamped on every message (RunnerMessage.incarnation, seq): this
  // process's life, and how many messages it has sent.
  std::string incarnation_;
  std::uint64_t sent_ = 0;
  // When the latest messages left, by seq, oldest first (SentAt).
  static constexpr std::size_t kSentTimes = 4096;
  std::deque<std::pair<std::uint64_t, common::Clock::Mono>> sent_times_;
  common::Clock::Mono last_from_broker_{};
  common::Clock::Mono next_heartbeat_{};
  common::Clock::Mono last_turn_{};     // the end of the latest turn
  common::Clock::Mono renew_after_{};   // no renewals before (after a stall)
  std::optional<common::Clock::Mono> renewed_at_;  // the latest lease renewal
  bool draining_ = false;
  common::Clock::Mono drain_deadline_{};
  std::deque<std::uint32_t> folders_to_make_;  // team ids, from prepare
};

}  // namespace runner
