// Runner: takes runs from the broker over a DEALER socket, runs each as an
// isolated child in the team's folders, enforces its timeout, and reports
// the result until the broker acknowledges it. It heartbeats the broker and
// says hello again (with the runs it holds) whenever the broker goes quiet.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "runner/child_process.h"
#include "runner/workspace.h"
#include "schemas/messages.h"

namespace runner {

struct RunnerSettings {
  std::string runner_id;
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
  std::function<void(zmq::socket_t&)> secure;  // CURVE keys, if any
};

class Runner {
 public:
  // `context` and `clock` must outlive the Runner. `sigchld_fd` is a
  // signalfd for SIGCHLD (blocked in every thread), or -1 to poll.
  Runner(zmq::context_t& context, std::string work_endpoint, const common::Clock& clock,
         RunnerSettings settings, int sigchld_fd);
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Serves until `stop` is set, then drains (see DESIGN: cancel and drain).
  common::Status Run(const std::atomic<bool>& stop);

 private:
  struct Job {
    schemas::BrokerMessage dispatch;
    std::optional<ChildProcess> child;
    std::optional<Workspace> workspace;
    std::string log_path;
    common::Clock::Mono deadline{};
    std::chrono::seconds timeout{};
    std::optional<common::Clock::Mono> kill_at;
    std::string stop_reason;  // why we signalled it, if we did
  };

  void Connect();
  void Send(const schemas::RunnerMessage& message);
  void SendHello(std::uint32_t slots);
  void HandleBrokerMessage();
  void StartJob(const schemas::BrokerMessage& dispatch);
  void StopJob(Job& job, const std::string& reason);
  void ReapChildren();
  void FinishJob(const std::string& run_id, int wait_status);
  void Report(schemas::RunnerMessage result);
  void EnforceDeadlines();
  void KillOrphans();
  void KillLeftoversOf(const std::string& run_id);
  bool IsJobLeader(pid_t pid) const;
  void Housekeeping(bool draining);
  std::vector<std::string> Environment(const Job& job) const;

  zmq::context_t& context_;
  std::string endpoint_;
  const common::Clock& clock_;
  RunnerSettings settings_;
  int sigchld_fd_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::map<std::string, Job> jobs_;                         // by run id
  struct Unacked {
    schemas::RunnerMessage result;
    common::Clock::Mono sent_at;
  };
  std::map<std::string, Unacked> unacked_;  // results, by run#attempt
  common::Clock::Mono last_from_broker_{};
  common::Clock::Mono next_heartbeat_{};
};

}  // namespace runner
