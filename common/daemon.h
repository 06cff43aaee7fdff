// Daemon: the start-up every Daybreak process shares, so each main.cc is
// only what is its own. It blocks the signals the process asks for (before
// any thread exists), parses the common flags (--config), loads and
// validates the configuration (security for the process's role), sets up
// logging, turns SIGTERM/SIGINT into a stop flag, owns the ZeroMQ context,
// makes the usual bus sockets, and runs the body so that nothing it throws
// escapes unlogged.
//
//   int main(int argc, char** argv) {
//     common::Daemon daemon({.name = "ticker", .about = "..."});
//     return daemon.Main(argc, argv, [&](common::Daemon& d) { ...; return 0; });
//   }
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "common/config.h"
#include "common/service_notify.h"

namespace common {

struct DaemonOptions {
  std::string name;   // "ticker": the logger's name; "daybreak-ticker" in messages
  std::string about;  // the --help headline
  bool broker = false;  // the role ValidateSecurity checks keys for
  // Blocked first thing in Main, before logging starts its thread, so every
  // thread inherits the mask and only the body's signalfd or sigwait sees
  // them (the runner's SIGCHLD).
  std::vector<int> blocked_signals = {};
  // What else of the configuration file the daemon reads itself (the
  // notifier's [notifier] section), given --config's value: --check-config
  // checks it too.
  std::function<Status(const std::string& config_path)> check_more = {};
};

// Exit codes every daemon uses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;     // a runtime failure (logged)
inline constexpr int kExitBadConfig = 2;  // flags or configuration (on stderr)

class Daemon {
 public:
  using Body = std::function<int(Daemon&)>;

  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // For the process's own flags; add them before Main.
  CLI::App& app() { return app_; }

  // Blocks `blocked_signals` (and SIGHUP, which a thread of its own waits
  // for: a reload) in the calling thread, parses `argv`, starts
  // up, then returns `body`'s exit code. --help returns kExitOk and a bad
  // flag CLI11's code; a bad configuration returns kExitBadConfig with the
  // reason on stderr; anything `body` throws is logged and returns
  // kExitFailed. Call it before the process starts any thread.
  int Main(int argc, char** argv, const Body& body);

  // REQUIRES: inside `body`.
  const Config& config() const { return config_; }
  const std::string& config_path() const { return config_path_; }
  const std::atomic<bool>& stop() const { return *stop_; }
  zmq::context_t& context() { return *context_; }
  // The service manager's view (systemd): call Ready once the process
  // serves, and Alive each turn of its loop (the watchdog's evidence).
  void Ready(const std::string& status) { notify_->Ready(status); }
  void Alive() { notify_->Alive(); }

  // Client sockets of the bus, with CURVE applied from the configuration.
  // A PUB connected to `endpoint` that keeps unsent frames a second at close.
  zmq::socket_t Publisher(const std::string& endpoint);
  // A SUB connected to `endpoint`, subscribed to `topics`, dropping frames
  // over `max_frame_bytes`.
  zmq::socket_t Subscriber(const std::string& endpoint, const std::vector<std::string_view>& topics,
                           std::size_t max_frame_bytes);
  // Prepares any further client socket (e.g. a ControlClient's).
  std::function<void(zmq::socket_t&)> ClientSetup() const;

  // What a reload changes in this process beyond the log level: given the
  // new configuration, already loaded and checked, it applies what it can
  // and says what it changed ("3 keys, 2 dashboard tokens"), or refuses
  // with why and changes nothing. Called on the thread that reloads.
  using ReloadHook = std::function<Result<std::string>(const Config& fresh)>;
  // Unhooks its hook when destroyed, after a reload that is running ends:
  // declare it after what the hook uses, so it goes first.
  class ReloadHandle {
   public:
    ReloadHandle(Daemon* daemon, std::uint64_t id) : daemon_(daemon), id_(id) {}
    ReloadHandle(ReloadHandle&& other) noexcept : daemon_(std::exchange(other.daemon_, nullptr)), id_(other.id_) {}
    ReloadHandle(const ReloadHandle&) = delete;
    ReloadHandle& operator=(const ReloadHandle&) = delete;
    ReloadHandle& operator=(ReloadHandle&&) = delete;
    ~ReloadHandle();

   private:
    Daemon* daemon_;
    std::uint64_t id_;
  };
  [[nodiscard]] ReloadHandle OnReload(ReloadHook hook);
  // Reads the configuration file again, as SIGHUP does: a file that does
  // not load or check, or that a hook refuses, keeps the running
  // configuration and the error says why; otherwise what changed. Logged
  // either way, with `why` ("SIGHUP", "admin.reload from ops").
  Result<std::string> Reload(const std::string& why);

 private:
  // kExitOk to go on; otherwise the exit code, with the reason reported.
  int StartUp();
  std::string program() const { return "daybreak-" + options_.name; }

  DaemonOptions options_;
  CLI::App app_;
  std::string config_path_;
  bool check_config_ = false;  // --check-config: load, check, say so, exit
  Config config_;
  const std::atomic<bool>* stop_ = nullptr;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<ServiceNotify> notify_;
  // SIGHUP: Reload("SIGHUP").
  void ServeReloads();
  std::mutex reload_mutex_;  // one reload at a time; guards hooks_
  std::vector<std::pair<std::uint64_t, ReloadHook>> hooks_;
  std::uint64_t next_hook_ = 0;
  std::atomic<bool> reloads_done_{false};
  std::thread reloader_;
};

}  // namespace common
