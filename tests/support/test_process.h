// TestProcess: a program of ours started with fork/exec for a test or a
// benchmark, its output to a log file; killed and reaped in the destructor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace testing {

// A child process for tests: started with fork/exec, killed in the destructor.
class TestProcess {
 public:
  TestProcess(std::vector<std::string> argv, std::vector<std::string> env, std::string log_path);
  ~TestProcess();
  TestProcess(const TestProcess&) = delete;
  TestProcess& operator=(const TestProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal) const;
  // Waits for exit; returns the wait status, or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running();
  // Sends `signal`, waits up to `grace` for the exit, then SIGKILLs.
  void Stop(int signal, std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

}  // namespace testing
