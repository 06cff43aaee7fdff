#include "bench/system/bench_cluster.h"

#include <signal.h>
#include <stdlib.h>

#include <stdexcept>

#include "bench/system/bus_recorder.h"
#include "schemas/codec.h"
#include "schemas/topics.h"

extern char** environ;

namespace bench {

namespace fs = std::filesystem;

namespace {

// DAYBREAK_BENCH_BIN_DIR runs other builds of the daemons (say, a patched
// copy being measured) with this harness.
std::string BinDir() {
  const char* dir = std::getenv("DAYBREAK_BENCH_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? dir : DAYBREAK_BIN_DIR;
}

}  // namespace

BenchCluster::BenchCluster(ClusterSettings settings) : settings_(std::move(settings)) {
  // Under TMPDIR (default /tmp): on this machine a real ext4 disk, so
  // synced writes really reach the device.
  std::string pattern = (fs::temp_directory_path() / "daybreak-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
  fs::create_directories(root_ / "logs");
  for (const char* name : {"bus_publish", "bus_subscribe", "control", "work"}) {
    endpoints_[name] = "tcp://127.0.0.1:" + std::to_string(FreePort());
  }
  // The broker's HTTP dashboard runs as in production, on a port of its own.
  endpoints_["http"] = "127.0.0.1:" + std::to_string(FreePort());
}

BenchCluster::~BenchCluster() {
  Stop();
  if (std::getenv("DAYBREAK_KEEP_BENCH_DIRS") != nullptr) return;
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

std::vector<std::string> BenchCluster::Environment() const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with("DAYBREAK_")) env.emplace_back(*e);  // ours only
  }
  env.push_back("DAYBREAK_BUS_PUBLISH=" + endpoints_.at("bus_publish"));
  env.push_back("DAYBREAK_BUS_SUBSCRIBE=" + endpoints_.at("bus_subscribe"));
  env.push_back("DAYBREAK_CONTROL=" + endpoints_.at("control"));
  env.push_back("DAYBREAK_WORK=" + endpoints_.at("work"));
  env.push_back("DAYBREAK_HTTP_LISTEN=" + endpoints_.at("http"));
  env.push_back("INPUT_DIR=" + (root_ / "data/inputs").string());
  env.push_back("OUTPUT_DIR=" + (root_ / "data/outputs").string());
  env.push_back("DAYBREAK_STATE_DIR=" +
                (settings_.state_dir.empty() ? (root_ / "state").string() : settings_.state_dir));
  env.push_back("DAYBREAK_LOG_DIR=" + (root_ / "runlogs").string());
  env.push_back("DAYBREAK_PIPELINE_COMMAND=/bin/true");
  for (const auto& [k, v] : settings_.env) env.push_back(k + "=" + v);
  return env;
}

std::unique_ptr<BenchProcess> BenchCluster::Start(const std::string& program,
                                                  std::vector<std::string> args,
                                                  const std::string& log_name) {
  args.insert(args.begin(), BinDir() + "/" + program);
  return std::make_unique<BenchProcess>(args, Environment(),
                                        (root_ / "logs" / (log_name + ".log")).string());
}

void BenchCluster::StartBroker() {
  const std::vector<std::string> env = Environment();  // built before the clock starts
  std::vector<std::string> args = {BinDir() + "/daybreak-broker"};
  broker_exec_ns_ = SteadyNs();
  broker_ = std::make_unique<BenchProcess>(args, env, (root_ / "logs/broker.log").string());
}

std::int64_t BenchCluster::WaitForBroker(std::chrono::milliseconds deadline) {
  // A DEALER queues the ping until the connection is up; a 1 ms reconnect
  // interval makes "up" follow the broker's bind closely.
  zmq::socket_t s(context_, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::reconnect_ivl, 1);
  s.set(zmq::sockopt::reconnect_ivl_max, 1);
  s.connect(endpoints_.at("control"));
  schemas::ControlRequest ping;
  ping.op = "ping";
  const std::string payload = schemas::Encode(ping);
  s.send(zmq::message_t(), zmq::send_flags::sndmore);
  s.send(zmq::buffer(payload), zmq::send_flags::none);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(1)) == 0) continue;
    const std::int64_t at = SteadyNs();
    zmq::message_t frame;
    std::string last;
    do {
      if (!s.recv(frame, zmq::recv_flags::none)) break;
      last = frame.to_string();
    } while (frame.more());
    auto reply = schemas::DecodeControlReply(last);
    if (reply.ok() && reply.value().ok) return at;
  }
  return -1;
}

void BenchCluster::StartRunner(const std::string& id, const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"--id", id};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  runners_[id] = Start("daybreak-runner", args, id);
}

void BenchCluster::PutTeams(const std::vector<schemas::TeamRecord>& teams) {
  zmq::socket_t s(context_, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, 0);
  s.set(zmq::sockopt::rcvhwm, 0);
  s.connect(endpoints_.at("control"));
  constexpr std::size_t kWindow = 256;  // below the broker's ROUTER high-water mark
  std::size_t sent = 0, answered = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (answered < teams.size()) {
    while (sent < teams.size() && sent - answered < kWindow) {
      schemas::ControlRequest request;
      request.op = "team.put";
      request.team_record = teams[sent++];
      s.send(zmq::message_t(), zmq::send_flags::sndmore);
      s.send(zmq::buffer(schemas::Encode(request)), zmq::send_flags::none);
    }
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("team.put timed out");
    if ((item.revents & ZMQ_POLLIN) == 0) continue;
    zmq::message_t frame;
    std::string last;
    do {
      if (!s.recv(frame, zmq::recv_flags::none)) break;
      last = frame.to_string();
    } while (frame.more());
    auto reply = schemas::DecodeControlReply(last);
    if (!reply.ok()) throw std::runtime_error("bad control reply: " + reply.status().message());
    if (!reply.value().ok) throw std::runtime_error("team.put refused: " + reply.value().error);
    ++answered;
  }
}

void BenchCluster::Stop() {
  for (auto& [id, r] : runners_) r->Stop(SIGTERM, std::chrono::milliseconds(0));
  for (auto& [id, r] : runners_) r->Stop(SIGKILL, std::chrono::milliseconds(2000));
  runners_.clear();
  if (broker_) broker_->Stop(SIGTERM, std::chrono::milliseconds(3000));
  broker_.reset();
}

}  // namespace bench
