#include "common/daemon.h"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "common/logging.h"
#include "common/process.h"
#include "common/security.h"

namespace common {

namespace {
// StartUp's "done, exit 0" after --check-config (no exit code of its own).
constexpr int kExitChecked = -1;
}  // namespace

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)), app_("daybreak-" + options_.name + ": " + options_.about) {
  app_.add_option("-c,--config", config_path_,
                  "TOML configuration file (default: $DAYBREAK_CONFIG, else /etc/daybreak/daybreak.toml "
                  "when it exists, else the embedded defaults)")
      ->check(CLI::ExistingFile);
  app_.add_flag("--check-config", check_config_,
                "load and check the configuration (and the files its keys name), say whether it is "
                "good, and exit: 0 good, 2 bad");
}

// The context ends last: every socket is a local of the body, closed when
// it returns, so zmq_ctx_term does not wait on one.
Daemon::~Daemon() {
  reloads_done_ = true;
  if (reloader_.joinable()) reloader_.join();
}

void Daemon::ServeReloads() {
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  const timespec tick{0, 200'000'000};  // how soon it notices the process ends
  while (!reloads_done_ && !stop_->load()) {
    if (sigtimedwait(&hup, nullptr, &tick) == SIGHUP) (void)Reload("SIGHUP");
  }
}

Daemon::ReloadHandle Daemon::OnReload(ReloadHook hook) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  hooks_.emplace_back(++next_hook_, std::move(hook));
  return ReloadHandle(this, next_hook_);
}

Daemon::ReloadHandle::~ReloadHandle() {
  if (daemon_ == nullptr) return;
  std::lock_guard<std::mutex> lock(daemon_->reload_mutex_);  // waits for a reload in progress
  std::erase_if(daemon_->hooks_, [this](const auto& entry) { return entry.first == id_; });
}

Result<std::string> Daemon::Reload(const std::string& why) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  const std::string path = config_path_.empty() ? DefaultConfigPath() : config_path_;
  const std::string file = path.empty() ? "(no file)" : path;
  auto refuse = [&](const Status& s) -> Result<std::string> {
    spdlog::error("{}: {} not reloaded, the running configuration stays: {}", why, file, s.message());
    return Status::Error(s.code(), file + " not reloaded, the running configuration stays: " + s.message());
  };
  auto fresh = LoadProcessConfig(config_path_);
  if (!fresh.ok()) return refuse(fresh.status());
  if (Status s = ValidateSecurity(fresh.value(), options_.broker); !s.ok()) return refuse(s);
  if (options_.check_more) {
    if (Status s = options_.check_more(config_path_); !s.ok()) return refuse(s);
  }
  if (Status s = ValidLogLevel(fresh.value().log_level); !s.ok()) return refuse(s);
  std::string changed = "log level " + fresh.value().log_level;
  for (const auto& [id, hook] : hooks_) {
    auto applied = hook(fresh.value());
    if (!applied.ok()) return refuse(applied.status());
    if (!applied.value().empty()) changed += "; " + applied.value();
  }
  (void)SetLogLevel(fresh.value().log_level);  // checked above
  spdlog::warn("{}: reloaded {}: {} (other settings take effect at the next start)", why, file, changed);
  return changed;
}

int Daemon::StartUp() {
  auto config = LoadProcessConfig(config_path_);
  if (!config.ok()) {
    fmt::print(stderr, "{}: bad configuration: {}\n", program(), config.status().message());
    return kExitBadConfig;
  }
  config_ = config.value();
  if (Status s = ValidateSecurity(config_, options_.broker); !s.ok()) {
    fmt::print(stderr, "{}: bad configuration: {}\n", program(), s.message());
    return kExitBadConfig;
  }
  if (check_config_ && options_.check_more) {
    if (Status s = options_.check_more(config_path_); !s.ok()) {
      fmt::print(stderr, "{}: bad configuration: {}\n", program(), s.message());
      return kExitBadConfig;
    }
  }
  if (check_config_) {
    const std::string path = config_path_.empty() ? DefaultConfigPath() : config_path_;
    fmt::print("{}: configuration {} is good\n", program(), path.empty() ? "(embedded defaults)" : path);
    return kExitChecked;
  }
  if (Status s = SetupLogging(options_.name, config_.log_level); !s.ok()) {
    fmt::print(stderr, "{}: {}\n", program(), s.message());
    return kExitBadConfig;
  }
  stop_ = &InstallStopSignals();
  context_ = std::make_unique<zmq::context_t>(1);
  notify_ = std::make_unique<ServiceNotify>(*stop_);
  reloader_ = std::thread([this] { ServeReloads(); });
  return kExitOk;
}

int Daemon::Main(int argc, char** argv, const Body& body) {
  {
    // SIGHUP is the reloader's (sigtimedwait): blocked in every thread, so
    // it neither kills the process nor interrupts another thread.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    for (int signal : options_.blocked_signals) sigaddset(&blocked, signal);
    if (const int error = pthread_sigmask(SIG_BLOCK, &blocked, nullptr); error != 0) {
      fmt::print(stderr, "{}: cannot block signals: {}\n", program(), std::strerror(error));
      return kExitFailed;
    }
  }
  try {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app_.exit(e);  // --help is 0, a bad flag its own code
    }
    if (const int code = StartUp(); code == kExitChecked) {
      return kExitOk;
    } else if (code != kExitOk) {
      return code;
    }
    return body(*this);
  } catch (const std::exception& e) {
    // Logging may not be set up yet; spdlog's default logger prints to stderr.
    spdlog::critical("{} failed: {}", options_.name, e.what());
    return kExitFailed;
  } catch (...) {
    spdlog::critical("{} failed: unknown exception", options_.name);
    return kExitFailed;
  }
}

zmq::socket_t Daemon::Publisher(const std::string& endpoint) {
  zmq::socket_t socket(context(), zmq::socket_type::pub);
  ApplyClientSecurity(socket, config_);
  socket.set(zmq::sockopt::linger, 1000);
  socket.set(zmq::sockopt::sndhwm, 100000);
  socket.connect(endpoint);
  return socket;
}

zmq::socket_t Daemon::Subscriber(const std::string& endpoint,
                                 const std::vector<std::string_view>& topics,
                                 std::size_t max_frame_bytes) {
  zmq::socket_t socket(context(), zmq::socket_type::sub);
  ApplyClientSecurity(socket, config_);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_frame_bytes));
  socket.set(zmq::sockopt::rcvhwm, 100000);
  for (std::string_view topic : topics) socket.set(zmq::sockopt::subscribe, std::string(topic));
  socket.connect(endpoint);
  return socket;
}

std::function<void(zmq::socket_t&)> Daemon::ClientSetup() const {
  return [this](zmq::socket_t& s) { ApplyClientSecurity(s, config_); };
}

}  // namespace common
