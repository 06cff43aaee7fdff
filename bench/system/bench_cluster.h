// BenchCluster: a broker and runners on loopback for one benchmark run, on
// free ports, with state and logs in a fresh temp dir (removed afterwards),
// configured through DAYBREAK_* environment variables like the tests'.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "bench/system/bench_process.h"
#include "schemas/messages.h"

namespace bench {

struct ClusterSettings {
  std::map<std::string, std::string> env;  // extra DAYBREAK_* settings
  std::string state_dir;                   // empty: <temp>/state
};

class BenchCluster {
 public:
  explicit BenchCluster(ClusterSettings settings);
  ~BenchCluster();
  BenchCluster(const BenchCluster&) = delete;
  BenchCluster& operator=(const BenchCluster&) = delete;

  // Starts the broker (exec time is returned by broker_exec_ns()).
  void StartBroker();
  // Sends pings until one is answered; returns steady ns of the answer, or
  // -1 after `deadline`.
  std::int64_t WaitForBroker(std::chrono::milliseconds deadline);
  void StartRunner(const std::string& id, const std::vector<std::string>& extra_args);
  // team.put for every record, with up to 256 requests in flight. Throws
  // on the first refusal or after 60 s.
  void PutTeams(const std::vector<schemas::TeamRecord>& teams);
  // Stops runners and broker (TERM, then KILL).
  void Stop();

  BenchProcess& broker() { return *broker_; }
  std::int64_t broker_exec_ns() const { return broker_exec_ns_; }
  const std::string& endpoint(const std::string& name) const { return endpoints_.at(name); }
  zmq::context_t& context() { return context_; }
  std::string root() const { return root_.string(); }

 private:
  std::vector<std::string> Environment() const;
  std::unique_ptr<BenchProcess> Start(const std::string& program,
                                      std::vector<std::string> args,
                                      const std::string& log_name);

  ClusterSettings settings_;
  std::filesystem::path root_;
  std::map<std::string, std::string> endpoints_;
  zmq::context_t context_{1};
  std::unique_ptr<BenchProcess> broker_;
  std::int64_t broker_exec_ns_ = 0;
  std::map<std::string, std::unique_ptr<BenchProcess>> runners_;
};

}  // namespace bench
