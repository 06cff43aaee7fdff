#include "tests/support/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/security.h"
#include "common/zmq_util.h"
#include "schemas/codec.h"

extern char** environ;

namespace testing {

namespace fs = std::filesystem;


Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  for (const char* name : {"bus_publish", "bus_subscribe", "control", "work"}) {
    endpoints_[name] = "tcp://" + options_.host + ":" + std::to_string(FreePort());
  }
  endpoints_["http"] = "127.0.0.1:" + std::to_string(FreePort());
  fs::create_directories(dir_.Sub("logs"));
  fs::create_directories(shared());
  auto config = common::LoadConfig("", [this](const char* name) -> const char* {
    auto it = options_.env.find(name);
    return it == options_.env.end() ? nullptr : it->second.c_str();
  });
  if (!config.ok()) throw std::runtime_error("bad cluster options: " + config.status().message());
  client_config_ = config.value();
  control_ = std::make_unique<schemas::ControlClient>(
      context_, endpoints_["control"], [this](zmq::socket_t& s) { Secure(s); });
  StartBroker();
  if (!WaitForBroker()) throw std::runtime_error("broker did not start; see " + dir_.Sub("logs"));
  for (int i = 1; i <= options_.runners; ++i) StartRunner("runner-" + std::to_string(i));
  if (options_.notifier) StartNotifier();
  if (options_.ticker) StartTicker();
}

Cluster::~Cluster() {
  if (std::getenv("DAYBREAK_KEEP_TEST_DIRS") != nullptr) dir_.Keep();
  // Orderly stop first, so runners reap their pipelines.
  for (auto& [id, r] : runners_) r->Signal(SIGTERM);
  for (auto& [id, r] : runners_) r->Wait(std::chrono::seconds(5));
}

void Cluster::Secure(zmq::socket_t& socket) const {
  common::ApplyClientSecurity(socket, client_config_);
}

std::vector<std::string> Cluster::Environment() const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with("DAYBREAK_")) env.emplace_back(*e);
  }
  env.push_back("DAYBREAK_BUS_PUBLISH=" + endpoints_.at("bus_publish"));
  env.push_back("DAYBREAK_BUS_SUBSCRIBE=" + endpoints_.at("bus_subscribe"));
  env.push_back("DAYBREAK_CONTROL=" + endpoints_.at("control"));
  env.push_back("DAYBREAK_WORK=" + endpoints_.at("work"));
  env.push_back("DAYBREAK_HTTP_LISTEN=" + endpoints_.at("http"));
  env.push_back("INPUT_DIR=" + dir_.Sub("data/inputs"));
  env.push_back("OUTPUT_DIR=" + dir_.Sub("data/outputs"));
  env.push_back("DAYBREAK_STATE_DIR=" +
                 (options_.state_dir.empty() ? dir_.Sub("var/broker") : options_.state_dir));
  env.push_back("DAYBREAK_LOG_DIR=" + dir_.Sub("var/logs"));
  env.push_back("DAYBREAK_HEARTBEAT_MS=100");
  env.push_back("DAYBREAK_BACKOFF_INITIAL_S=0.2");
  env.push_back("DAYBREAK_BACKOFF_MAX_S=0.5");
  env.push_back("DAYBREAK_KILL_GRACE_S=1");
  // Where a test's pipelines may write for the test to read (their
  // sandbox allows nothing else outside their staging).
  if (options_.env.count("DAYBREAK_SANDBOX_WRITE") == 0) {
    env.push_back("DAYBREAK_SANDBOX_WRITE=" + shared());
  }
  for (const auto& [k, v] : options_.env) env.push_back(k + "=" + v);
  return env;
}

std::unique_ptr<TestProcess> Cluster::Start(const std::string& program,
                                            std::vector<std::string> args,
                                            const std::string& log_name,
                                            std::vector<std::string> prefix) {
  args.insert(args.begin(), std::string(DAYBREAK_BIN_DIR) + "/" + program);
  args.insert(args.begin(), prefix.begin(), prefix.end());
  return std::make_unique<TestProcess>(args, Environment(), dir_.Sub("logs/" + log_name + ".log"));
}

void Cluster::StartBroker() {
  broker_ = Start("daybreak-broker", {}, "broker-" + std::to_string(++broker_starts_));
}
void Cluster::StartRunner(const std::string& id) {
  runners_[id] = Start("daybreak-runner", {"--id", id}, id,
                       options_.runner_prefix ? options_.runner_prefix(id) : std::vector<std::string>{});
}
void Cluster::StartTicker() { ticker_ = Start("daybreak-ticker", {}, "ticker"); }
void Cluster::StartNotifier(std::vector<std::string> args) {
  notifier_ = Start("daybreak-notifier", std::move(args), "notifier");
}

void Cluster::StopBroker(int signal) {
  broker_->Signal(signal);
  broker_->Wait(std::chrono::seconds(10));
}

void Cluster::StopTicker(int signal) {
  ticker_->Signal(signal);
  ticker_->Wait(std::chrono::seconds(10));
}

void Cluster::StopNotifier(int signal) {
  notifier_->Signal(signal);
  notifier_->Wait(std::chrono::seconds(10));
}

void Cluster::StopRunner(const std::string& id, int signal) {
  runners_.at(id)->Signal(signal);
  runners_.at(id)->Wait(std::chrono::seconds(10));
}

int Cluster::RunTool(const std::vector<std::string>& argv, std::string* output) {
  std::vector<std::string> args = argv;
  args[0] = std::string(DAYBREAK_BIN_DIR) + "/" + args[0];
  const std::string log = dir_.Sub("logs/tool.out");
  fs::remove(log);
  TestProcess p(args, Environment(), log);
  auto status = p.Wait(std::chrono::seconds(60));
  if (output != nullptr) *output = ReadFile(log);
  if (!status || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

void Cluster::MakeSample(std::uint32_t team, int loans, const std::string& date) {
  const std::string dir = team == 0 ? data("inputs/files_required")
                                    : data("inputs/sales_team_" + std::to_string(team) + "/files_required");
  std::string out;
  if (RunTool({"daybreak-pipeline", "gen-sample", "--loans", std::to_string(loans), "--date", date,
               "--seed", std::to_string(team + 1), "--out", dir}, &out) != 0) {
    throw std::runtime_error("gen-sample failed: " + out);
  }
}

common::Result<schemas::ControlReply> Cluster::Call(const schemas::ControlRequest& request) {
  return control_->Call(request, std::chrono::seconds(5));
}

schemas::RunRecord Cluster::Trigger(std::uint32_t team, const std::string& key) {
  schemas::ControlRequest request;
  request.op = "trigger";
  request.team = team;
  request.key = key;
  auto reply = Call(request);
  if (!reply.ok()) throw std::runtime_error("trigger failed: " + reply.status().message());
  return reply.value().run;
}

void Cluster::AddTeam(schemas::TeamRecord team) {
  schemas::ControlRequest request;
  request.op = "team.put";
  request.team_record = team;
  auto reply = Call(request);
  if (!reply.ok()) throw std::runtime_error("team.put failed: " + reply.status().message());
}

schemas::RunRecord Cluster::WaitForRun(const std::string& run_id,
                                       const std::function<bool(const schemas::RunRecord&)>& done,
                                       std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  schemas::RunRecord last;
  while (std::chrono::steady_clock::now() < until) {
    schemas::ControlRequest request;
    request.op = "run.get";
    request.run_id = run_id;
    auto reply = control_->Call(request, std::chrono::milliseconds(500));
    if (reply.ok()) {
      last = reply.value().run;
      if (done(last)) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the broker
  }
  return last;
}

schemas::RunRecord Cluster::WaitForTerminal(const std::string& run_id,
                                            std::chrono::milliseconds deadline) {
  return WaitForRun(run_id, [](const schemas::RunRecord& r) { return schemas::IsTerminal(r.state); },
                    deadline);
}

bool Cluster::WaitForBroker(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    schemas::ControlRequest ping;
    ping.op = "ping";
    if (control_->Call(ping, std::chrono::milliseconds(300)).ok()) return true;
  }
  return false;
}

BusWatcher::BusWatcher(Cluster& cluster, const std::vector<std::string>& prefixes)
    : socket_(cluster.context(), zmq::socket_type::sub) {
  socket_.set(zmq::sockopt::linger, 0);
  cluster.Secure(socket_);
  for (const std::string& p : prefixes) socket_.set(zmq::sockopt::subscribe, p);
  const std::string probe = "probe." + std::to_string(getpid()) + "." +
                            std::to_string(reinterpret_cast<std::uintptr_t>(this));
  socket_.set(zmq::sockopt::subscribe, probe);
  socket_.connect(cluster.endpoint("bus_subscribe"));
  // A SUB hears nothing until its subscription reached the broker. Publish
  // a probe through the bus until it comes back: then the path is live.
  zmq::socket_t pub(cluster.context(), zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  cluster.Secure(pub);
  pub.connect(cluster.endpoint("bus_publish"));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    pub.send(zmq::buffer(probe), zmq::send_flags::sndmore);
    pub.send(zmq::str_buffer(""), zmq::send_flags::none);
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
    auto parts = common::ReceiveMultipart(socket_);
    if (!parts.empty() && parts[0].to_string() == probe) break;
    Absorb(parts);
  }
  socket_.set(zmq::sockopt::unsubscribe, probe);
}

void BusWatcher::Absorb(const std::vector<zmq::message_t>& parts) {
  if (parts.size() != 2) return;
  const std::string topic = parts[0].to_string();
  if (topic.starts_with("run.")) {
    auto e = schemas::DecodeRunEvent(parts[1].to_string_view());
    if (e.ok()) run_events_.push_back(e.value());
  } else if (topic.starts_with("alert.")) {
    auto a = schemas::DecodeAlertEvent(parts[1].to_string_view());
    if (a.ok()) alerts_.push_back(a.value());
  } else if (topic == "due.ack") {
    auto a = schemas::DecodeDueAck(parts[1].to_string_view());
    if (a.ok()) acks_.push_back(a.value());
  }
}

bool BusWatcher::Pump(std::chrono::milliseconds wait) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, wait) == 0) return false;
  while (true) {
    auto parts = common::ReceiveMultipart(socket_);
    if (parts.empty()) break;
    Absorb(parts);
  }
  return true;
}

std::optional<schemas::RunEvent> BusWatcher::WaitForRunEvent(
    const std::function<bool(const schemas::RunEvent&)>& match, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (true) {
    for (const schemas::RunEvent& e : run_events_) {
      if (match(e)) return e;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Pump(left);
  }
}

std::optional<schemas::AlertEvent> BusWatcher::WaitForAlert(
    const std::function<bool(const schemas::AlertEvent&)>& match, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (true) {
    for (const schemas::AlertEvent& a : alerts_) {
      if (match(a)) return a;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Pump(left);
  }
}

std::optional<schemas::DueAck> BusWatcher::WaitForAck(
    const std::function<bool(const schemas::DueAck&)>& match, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (true) {
    for (const schemas::DueAck& a : acks_) {
      if (match(a)) return a;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Pump(left);
  }
}

bool WaitForText(const std::string& path, const std::string& needle,
                 std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (ReadFile(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace testing
