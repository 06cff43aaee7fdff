// ChildProcess: a pipeline started with posix_spawn in its own process
// group, stdin from /dev/null, stdout and stderr to a log file, every other
// descriptor closed. The destructor kills the whole group; reaping is done by
// the owner's SIGCHLD handling (the runner is a subreaper).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace runner {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is a path or a name on PATH
  std::vector<std::string> env;   // "NAME=value", the whole environment
  std::string cwd;
  std::string log_path;           // created or appended
};

class ChildProcess {
 public:
  static common::Result<ChildProcess> Spawn(const SpawnSpec& spec);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends `signal` to the child's whole process group.
  void SignalGroup(int signal) const;
  // The owner reaped the leader; the destructor then only sweeps the group.
  void MarkReaped() { reaped_ = true; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace runner
