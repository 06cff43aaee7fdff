// ChildProcess: a pipeline started by fork and exec (the child makes only
// async-signal-safe calls) in its own process group, stdin from /dev/null,
// stdout and stderr to a log file, every other descriptor closed, and killed
// by the kernel if the runner dies (PR_SET_PDEATHSIG). The destructor kills
// the whole group; reaping is the owner's SIGCHLD handling (the runner is a
// subreaper).
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
  // Starts the child and returns once it has exec'd. Fails with kInvalid
  // (empty argv), kNotFound (not on PATH) or kIoError (pipe, fork, log file,
  // cwd or exec), and then no child is left behind.
  static common::Result<ChildProcess> Spawn(const SpawnSpec& spec);
  ChildProcess(ChildProcess&& other) noexcept;
  // Kills and reaps the child this held, then takes over `other`'s.
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // -1 once moved from.
  pid_t pid() const { return pid_; }
  // Sends `signal` to the child's whole process group.
  void SignalGroup(int signal) const;
  // The owner reaped the leader; the destructor then only sweeps the group.
  void MarkReaped() { reaped_ = true; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  // Kills the group and reaps the leader (unless reaped); leaves this empty.
  void End() noexcept;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace runner
