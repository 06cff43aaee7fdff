// daybreak-runner: executes pipeline runs handed out by the broker.
#include <signal.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/daemon.h"
#include "runner/cgroup.h"
#include "runner/lease_shim.h"
#include "runner/metrics_http.h"
#include "runner/runner.h"
#include "runner/runner_settings.h"
#include "runner/sandbox.h"
#include "runner/system_process_host.h"
#include "schemas/topics.h"
#include "schemas/vocabulary.h"

namespace {

// A reconnect needs a fresh DEALER (a socket keeps its queued frames and
// its peer's state), so the runner is handed a factory, not a socket.
runner::Runner::SocketFactory WorkSockets(common::Daemon& d, const std::string& runner_id) {
  return [&d, runner_id, secure = d.ClientSetup()] {
    auto socket = std::make_unique<zmq::socket_t>(d.context(), zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::routing_id, runner_id);  // the broker knows us by it
    secure(*socket);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
    socket->connect(d.config().work);
    return socket;
  };
}

// The shim beside this binary, and a cgroup folder where cgroup v2 lets us
// make one; the log says once which way runs are kept and killed.
runner::HostSetup HostSetupFor(const runner::RunnerSettings& settings) {
  runner::HostSetup setup;
  std::error_code ec;
  const auto shim = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() /
                    std::string(runner::kShimName);
  if (!ec && access(shim.c_str(), X_OK) == 0) {
    setup.shim = shim.string();
    spdlog::info("leases: each pipeline runs under {}", setup.shim);
  } else {
    spdlog::warn("leases: no {} beside the runner; a stopped runner's pipelines run on",
                 runner::kShimName);
  }
  auto dir = runner::cgroup::PrepareRunnerDir(settings.deployment, settings.runner_id);
  if (dir.ok() && !setup.shim.empty()) {
    setup.cgroup_dir = dir.value();
    spdlog::info("process trees: a cgroup v2 per run under {}", setup.cgroup_dir);
  } else {
    spdlog::info("process trees: process group and subreaper ({})",
                 dir.ok() ? "no shim to enter a cgroup" : dir.status().message());
  }
  return setup;
}

// Whether pipelines get a Landlock sandbox here, said once; false when
// runner.isolation = "required" and they cannot, and the runner must not
// run any pipeline at all.
bool WallsUp(runner::RunnerSettings& settings, const runner::HostSetup& setup) {
  if (settings.isolation == schemas::isolation::kOff) {
    spdlog::warn("isolation: off (runner.isolation); pipelines may read and write "
                 "whatever this runner can");
    return true;
  }
  const int abi = runner::sandbox::LandlockAbi();
  std::string missing;
  if (abi == 0) missing = "this kernel has no Landlock (or it is disabled)";
  if (setup.shim.empty()) missing = "no " + std::string(runner::kShimName) + " beside the runner";
  if (missing.empty()) {
    settings.landlock_abi = abi;
    spdlog::info("isolation: Landlock ABI {} around each pipeline (its input read-only, only "
                 "its staging writable{})",
                 abi, abi >= 6 ? ", no signals out" : "");
    return true;
  }
  if (settings.isolation == schemas::isolation::kRequired) {
    spdlog::critical("isolation = \"required\" but {}: refusing to run pipelines", missing);
    return false;
  }
  spdlog::warn("isolation: none, {}; pipelines run unwalled (runner.isolation = \"required\" "
               "would refuse)", missing);
  return true;
}

// Who pipelines run as (runner.run_as_user, runner.team_uid_base), said
// once; false when it cannot be done here (the runner must not run them as
// itself instead).
bool RunAs(const common::Config& c, runner::RunnerSettings& settings,
           const runner::HostSetup& setup) {
  if (c.run_as_user.empty() && c.team_uid_base == 0) {
    spdlog::info("pipelines run as the runner's own user (uid {})", geteuid());
    return true;
  }
  std::string missing;
  if (!runner::sandbox::HasCapabilities({CAP_SETUID, CAP_SETGID, CAP_CHOWN})) {
    missing = "the runner lacks CAP_SETUID, CAP_SETGID or CAP_CHOWN (run it as root, or give it them)";
  }
  if (setup.shim.empty()) missing = "no " + std::string(runner::kShimName) + " beside the runner";
  if (!missing.empty()) {
    spdlog::critical("runner.run_as_user / team_uid_base set, but {}: refusing to run pipelines", missing);
    return false;
  }
  if (c.team_uid_base > 0) {
    spdlog::info("pipelines run as their team's uid: team N as uid/gid {} + N", c.team_uid_base);
    return true;
  }
  auto user = runner::sandbox::LookupUser(c.run_as_user);
  if (!user.ok()) {
    spdlog::critical("{}", user.status().message());
    return false;
  }
  settings.run_as = runner::Owner{user.value().uid, user.value().gid};
  spdlog::info("pipelines run as user {} (uid {}, gid {})", user.value().name, user.value().uid,
               user.value().gid);
  return true;
}

int RunRunner(common::Daemon& d, const runner::RunnerFlags& flags) {
  const common::Config& c = d.config();
  // SIGCHLD is blocked in every thread (DaemonOptions::blocked_signals), so
  // only this signalfd sees it; without one the runner polls for exits.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  const int sigchld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigchld_fd < 0) spdlog::warn("no signalfd for SIGCHLD; polling for pipeline exits");
  // Orphans of our pipelines become our children, so none escapes a kill.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  runner::RunnerSettings settings = runner::SettingsFrom(c, flags);
  std::filesystem::create_directories(settings.log_dir);
  common::SystemClock clock;
  spdlog::info("runner {} connecting to {} with {} slots", settings.runner_id, c.work, settings.slots);
  runner::HostSetup setup = HostSetupFor(settings);
  if (!WallsUp(settings, setup)) return common::kExitBadConfig;
  if (!RunAs(c, settings, setup)) return common::kExitBadConfig;
  runner::SystemProcessHost host(sigchld_fd, std::move(setup));
  runner::Runner runner(WorkSockets(d, settings.runner_id), host, clock, settings);
  runner::RunnerMetrics metrics(settings.runner_id, settings.slots);
  runner.set_metrics(&metrics);
  runner::MetricsHttp metrics_http(metrics.registry());
  if (!c.runner_metrics_listen.empty()) {
    // Monitoring that cannot start must not stop runs.
    if (const common::Status s = metrics_http.Start(c.runner_metrics_listen); s.ok()) {
      spdlog::info("metrics: http://{}/metrics", c.runner_metrics_listen);
    } else {
      spdlog::error("{}; no runner metrics", s.message());
    }
  }
  d.Ready(fmt::format("runner {} with {} slots, broker {}", settings.runner_id, settings.slots, c.work));
  const common::Status s = runner.Run(d.stop());
  if (!s.ok()) spdlog::error("runner stopped: {}", s.ToString());
  return s.ok() ? common::kExitOk : common::kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  common::Daemon daemon({.name = "runner",
                         .about = "runs team pipelines handed out by the Daybreak broker",
                         .blocked_signals = {SIGCHLD}});
  runner::RunnerFlags flags;
  daemon.app().add_option("--id", flags.runner_id, "runner id (default: <hostname>-<pid>)");
  daemon.app()
      .add_option("--slots", flags.slots, "runs at once (default: runner.slots)")
      ->check(CLI::Range(1, 1024));
  daemon.app().add_flag("--noop", flags.noop, "benchmark mode: report success without starting pipelines");
  return daemon.Main(argc, argv, [&flags](common::Daemon& d) { return RunRunner(d, flags); });
}
