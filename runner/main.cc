// daybreak-runner: executes pipeline runs handed out by the broker.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/logging.h"
#include "common/process.h"
#include "common/security.h"
#include "runner/runner.h"
#include "runner/system_process_host.h"
#include "schemas/topics.h"

namespace fs = std::filesystem;

namespace {

// The reference pipeline installed next to this binary, else on PATH.
std::vector<std::string> DefaultCommand() {
  std::error_code ec;
  const fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "daybreak-pipeline";
  if (!ec && fs::exists(beside)) return {beside.string(), "loan-tape"};
  return {"daybreak-pipeline", "loan-tape"};
}

std::string DefaultRunnerId() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

// A reconnect needs a fresh DEALER (a socket keeps its queued frames and
// its peer's state), so the runner is handed a factory, not a socket.
runner::Runner::SocketFactory WorkSockets(zmq::context_t& context, const common::Config& c,
                                          const std::string& runner_id) {
  return [&context, &c, runner_id] {
    auto socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::routing_id, runner_id);  // the broker knows us by it
    common::ApplyClientSecurity(*socket, c);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
    socket->connect(c.work);
    return socket;
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"daybreak-runner: runs team pipelines handed out by the Daybreak broker"};
  std::string config_path;
  std::string runner_id;
  int slots = 0;
  bool noop = false;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option("--id", runner_id, "runner id (default: <hostname>-<pid>)");
  app.add_option("--slots", slots, "runs at once (default: runner.slots)")->check(CLI::Range(1, 1024));
  app.add_flag("--noop", noop, "benchmark mode: report success without starting pipelines");
  CLI11_PARSE(app, argc, argv);
  try {
    auto config = common::LoadProcessConfig(config_path);
    if (!config.ok()) {
      fmt::print(stderr, "daybreak-runner: bad configuration: {}\n", config.status().message());
      return 2;
    }
    const common::Config& c = config.value();
    if (auto s = common::ValidateSecurity(c, /*broker=*/false); !s.ok()) {
      fmt::print(stderr, "{}: bad configuration: {}\n", argv[0], s.message());
      return 2;
    }
    if (auto s = common::SetupLogging("runner", c.log_level); !s.ok()) {
      fmt::print(stderr, "daybreak-runner: {}\n", s.message());
      return 2;
    }
    // Block SIGCHLD before any thread exists, so only our signalfd sees it.
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, nullptr);
    const int sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    // Orphans of our pipelines become our children, so none escapes a kill.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const auto& stop = common::InstallStopSignals();

    runner::RunnerSettings settings;
    settings.runner_id = !runner_id.empty() ? runner_id
                         : !c.runner_id.empty() ? c.runner_id : DefaultRunnerId();
    settings.slots = static_cast<std::uint32_t>(slots > 0 ? slots : c.slots);
    settings.default_command = c.pipeline_command.empty() ? DefaultCommand() : c.pipeline_command;
    settings.input_root = fs::absolute(c.input_dir).lexically_normal().string();
    settings.output_root = fs::absolute(c.output_dir).lexically_normal().string();
    settings.log_dir = fs::absolute(c.log_dir).lexically_normal().string();
    settings.heartbeat = std::chrono::milliseconds(c.heartbeat_ms);
    settings.heartbeat_liveness = c.heartbeat_liveness;
    settings.run_timeout = std::chrono::seconds(c.run_timeout_s);
    settings.kill_grace = std::chrono::seconds(c.kill_grace_s);
    settings.drain_timeout = std::chrono::seconds(c.drain_timeout_s);
    settings.noop = noop;
    fs::create_directories(settings.log_dir);

    common::SystemClock clock;
    zmq::context_t context(1);
    spdlog::info("runner {} connecting to {} with {} slots", settings.runner_id, c.work,
                 settings.slots);
    runner::SystemProcessHost host(sigchld_fd);
    runner::Runner runner(WorkSockets(context, c, settings.runner_id), host, clock, settings);
    auto s = runner.Run(stop);
    if (!s.ok()) spdlog::error("runner stopped: {}", s.ToString());
    return s.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::critical("runner failed: {}", e.what());
    return 1;
  }
}
