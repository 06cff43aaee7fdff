#include "common/service_notify.h"

#include <systemd/sd-daemon.h>

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace common {
namespace {

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ServiceNotify::ServiceNotify(const std::atomic<bool>& stop) : stop_(stop) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  managed_ = socket != nullptr && *socket != '\0';
  if (!managed_) return;
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
  thread_ = std::thread([this] { Watch(); });
}

ServiceNotify::~ServiceNotify() {
  done_.store(true);
  if (thread_.joinable()) thread_.join();
  // A stop quicker than the watcher's tick, or an end without a signal.
  if (managed_ && !told_stopping_) sd_notify(0, "STOPPING=1");
}

void ServiceNotify::Ready(const std::string& status) {
  if (!managed_) return;
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void ServiceNotify::Alive() { alive_ms_.store(SteadyMs()); }

void ServiceNotify::Watch() {
  // Signals are for the body's threads (SIGTERM must interrupt its wait).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  // Wakes often enough for STOPPING=1 to follow a signal closely, and for
  // pings at half the watchdog interval.
  const auto tick = std::chrono::milliseconds(100);
  const std::int64_t interval_ms = watchdog_.count() / 1000;
  std::int64_t next_ping = SteadyMs();
  while (!done_.load()) {
    if (stop_.load() && !told_stopping_) {
      sd_notify(0, "STOPPING=1");
      told_stopping_ = true;
    }
    const std::int64_t now = SteadyMs();
    if (interval_ms > 0 && now >= next_ping) {
      const std::int64_t alive = alive_ms_.load();
      // A body that reports its loop is pinged only while the loop turns.
      if (alive == 0 || now - alive < interval_ms) sd_notify(0, "WATCHDOG=1");
      next_ping = now + std::max<std::int64_t>(interval_ms / 2, 1);
    }
    std::this_thread::sleep_for(tick);  // a timer, not a wait on a peer
  }
}

}  // namespace common
