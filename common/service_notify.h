// ServiceNotify: what a daemon tells its service manager (systemd's
// sd_notify protocol, on $NOTIFY_SOCKET; nothing when it is not set, as
// under supervisord): READY=1 once it serves, WATCHDOG=1 while its loop
// turns, STOPPING=1 when a stop begins. A thread sends the watchdog pings
// every half $WATCHDOG_USEC, and only while the body has called Alive()
// within the interval (a body that never calls Alive() is pinged for as
// long as the process runs).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace common {

class ServiceNotify {
 public:
  // `stop` is the daemon's stop flag: STOPPING=1 goes out when it is set.
  explicit ServiceNotify(const std::atomic<bool>& stop);
  ~ServiceNotify();
  ServiceNotify(const ServiceNotify&) = delete;
  ServiceNotify& operator=(const ServiceNotify&) = delete;

  // READY=1 with a STATUS= line for `systemctl status`.
  void Ready(const std::string& status);
  // The body's loop is turning.
  void Alive();
  // True when $NOTIFY_SOCKET names a manager.
  bool managed() const { return managed_; }
  // 0 when the manager asks for no watchdog.
  std::chrono::microseconds watchdog() const { return watchdog_; }

 private:
  void Watch();

  const std::atomic<bool>& stop_;
  bool managed_ = false;
  std::chrono::microseconds watchdog_{0};
  std::atomic<std::int64_t> alive_ms_{0};  // steady clock; 0: Alive never called
  std::atomic<bool> done_{false};
  bool told_stopping_ = false;  // the watcher's until it is joined
  std::thread thread_;
};

}  // namespace common
