// BenchProcess: one of our daemons started with fork/exec for a benchmark,
// its output sent to a log file; SIGKILLed and reaped in the destructor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bench {

class BenchProcess {
 public:
  // Starts argv[0] (a path) with exactly `env`. Throws if fork fails.
  BenchProcess(std::vector<std::string> argv, std::vector<std::string> env,
               const std::string& log_path);
  ~BenchProcess();
  BenchProcess(const BenchProcess&) = delete;
  BenchProcess& operator=(const BenchProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` and waits up to `grace` for exit, then SIGKILLs.
  void Stop(int signal, std::chrono::milliseconds grace);
  bool running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// A value from /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); -1 if absent.
long ProcStatusKiB(pid_t pid, const std::string& field);

}  // namespace bench
