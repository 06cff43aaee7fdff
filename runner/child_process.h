// ChildProcess: a pipeline started by fork and exec (the child makes only
// async-signal-safe calls) in its own process group, stdin from /dev/null,
// stdout and stderr to a log file, every other descriptor closed (but
// SpawnSpec::pass_fd, which becomes descriptor 3), and killed
// by the kernel if the runner dies (PR_SET_PDEATHSIG). The destructor kills
// the whole group; reaping is the owner's SIGCHLD handling (the runner is a
// subreaper).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "runner/sandbox.h"

namespace runner {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is a path or a name on PATH
  std::vector<std::string> env;   // "NAME=value", the whole environment
  std::string cwd;
  std::string log_path;           // created or appended
  // >= 0: handed to the child as descriptor 3 (a shim's lease pipe); the
  // caller keeps its own copy and closes it.
  int pass_fd = -1;
  // A shim's lease for this run (runner/lease_shim.h) and the name of its
  // cgroup; a host without a shim ignores them. 0: no lease.
  std::chrono::milliseconds lease{0};
  std::chrono::milliseconds lease_grace{0};
  std::string name;               // "<run id>-a<attempt>": a path component
  // The walls around the pipeline; only a host with a shim builds them, and
  // a host without one refuses a spec that asks for any.
  sandbox::Rules sandbox;
};

// `name` itself if it has a '/', else the first executable `name` on the
// PATH of `env` (the default PATH without one); kNotFound if none.
common::Result<std::string> ResolveProgram(const std::string& name,
                                           const std::vector<std::string>& env);

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
