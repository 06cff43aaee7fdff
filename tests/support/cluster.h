// Cluster: the real Daybreak processes on loopback, on free ports, with
// their state and data in a temp dir. Integration tests start, kill and
// restart pieces of it and wait on what they expect, with deadlines.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/config.h"
#include "common/status.h"
#include "schemas/control_client.h"
#include "schemas/messages.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_process.h"

namespace testing {

struct ClusterOptions {
  int runners = 2;
  bool ticker = true;
  bool notifier = true;
  std::map<std::string, std::string> env;  // extra DAYBREAK_* settings
  // The address the broker's ZeroMQ endpoints bind and everyone connects to
  // (an address of this host; tests/chaos puts runners in network
  // namespaces that reach the broker on a bridge address).
  std::string host = "127.0.0.1";
  // An argv prefix each runner is started under (e.g. nsenter into a
  // namespace); it must exec the runner, so its pid is the runner's.
  std::function<std::vector<std::string>(const std::string& runner_id)> runner_prefix = nullptr;
  // The broker's state folder (empty: <root>/var/broker), e.g. on a small
  // filesystem a test fills.
  std::string state_dir = "";
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();

  std::string root() const { return dir_.path().string(); }
  std::string data(const std::string& rel) const { return dir_.Sub("data/" + rel); }
  // A folder every pipeline of the cluster may write (runner.sandbox_write),
  // for what a test's pipelines report to the test.
  std::string shared() const { return dir_.Sub("shared"); }

  void StartBroker();
  void StartRunner(const std::string& id);
  void StartTicker();
  void StartNotifier(std::vector<std::string> args = {});
  TestProcess& broker() { return *broker_; }
  TestProcess& runner(const std::string& id) { return *runners_.at(id); }
  void StopBroker(int signal);  // and wait for it to exit
  void StopRunner(const std::string& id, int signal);
  void StopTicker(int signal);
  void StopNotifier(int signal);

  // Runs a program of ours to completion (daybreak, daybreak-pipeline).
  int RunTool(const std::vector<std::string>& argv, std::string* output = nullptr);
  // Sample input for a team (0 = general) dated `date`.
  void MakeSample(std::uint32_t team, int loans, const std::string& date);

  common::Result<schemas::ControlReply> Call(const schemas::ControlRequest& request);
  schemas::RunRecord Trigger(std::uint32_t team, const std::string& key = "");
  void AddTeam(schemas::TeamRecord team);
  // Polls run.get until `done(run)` or the deadline; returns the last record.
  schemas::RunRecord WaitForRun(const std::string& run_id,
                                const std::function<bool(const schemas::RunRecord&)>& done,
                                std::chrono::milliseconds deadline = std::chrono::seconds(20));
  schemas::RunRecord WaitForTerminal(const std::string& run_id,
                                     std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Waits until the broker answers a ping.
  bool WaitForBroker(std::chrono::milliseconds deadline = std::chrono::seconds(10));

  std::vector<std::string> Environment() const;
  const std::string& endpoint(const std::string& name) const { return endpoints_.at(name); }
  zmq::context_t& context() { return context_; }
  // Gives a test's own socket the CURVE client keys from the options, if any.
  void Secure(zmq::socket_t& socket) const;

 private:
  std::unique_ptr<TestProcess> Start(const std::string& program, std::vector<std::string> args,
                                     const std::string& log_name,
                                     std::vector<std::string> prefix = {});

  ClusterOptions options_;
  common::Config client_config_;
  TempDir dir_;
  std::map<std::string, std::string> endpoints_;
  zmq::context_t context_{1};
  std::unique_ptr<schemas::ControlClient> control_;
  std::unique_ptr<TestProcess> broker_;
  std::unique_ptr<TestProcess> ticker_;
  std::unique_ptr<TestProcess> notifier_;
  std::map<std::string, std::unique_ptr<TestProcess>> runners_;
  int broker_starts_ = 0;
};

// Collects bus events on a SUB socket, so a test can wait for one.
class BusWatcher {
 public:
  BusWatcher(Cluster& cluster, const std::vector<std::string>& prefixes);
  // Waits until some run event seen (before or during the call) matches
  // `match`; returns the first such event, or nullopt at the deadline.
  std::optional<schemas::RunEvent> WaitForRunEvent(
      const std::function<bool(const schemas::RunEvent&)>& match,
      std::chrono::milliseconds deadline = std::chrono::seconds(20));
  std::optional<schemas::AlertEvent> WaitForAlert(
      const std::function<bool(const schemas::AlertEvent&)>& match,
      std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Waits for a due.ack (subscribe to "due.ack") matching `match`.
  std::optional<schemas::DueAck> WaitForAck(const std::function<bool(const schemas::DueAck&)>& match,
                                            std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Every run event seen so far, in arrival order.
  const std::vector<schemas::RunEvent>& run_events() const { return run_events_; }

 private:
  bool Pump(std::chrono::milliseconds wait);
  void Absorb(const std::vector<zmq::message_t>& parts);
  zmq::socket_t socket_;
  std::vector<schemas::RunEvent> run_events_;
  std::vector<schemas::AlertEvent> alerts_;
  std::vector<schemas::DueAck> acks_;
};

std::string ReadFile(const std::string& path);
// Polls `path` (a process's log, say) until it holds `needle`, or the
// deadline passes; false then.
bool WaitForText(const std::string& path, const std::string& needle,
                 std::chrono::milliseconds deadline = std::chrono::seconds(15));
std::vector<std::string> ListFiles(const std::string& dir);

}  // namespace testing
