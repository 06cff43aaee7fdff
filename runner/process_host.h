// ProcessHost: everything the runner asks of the operating system about its
// pipelines (start one, learn that one ended, signal it, find leftovers), so
// the runner's rules can be tested against a fake host without processes.
// SystemProcessHost is the real one; tests/runner/fake_process_host.h fakes it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "runner/child_process.h"
#include "runner/process_scan.h"

namespace runner {

// A child that ended, as waitpid reports it.
struct Exited {
  pid_t pid = 0;
  int wait_status = 0;
};

class ProcessHost {
 public:
  virtual ~ProcessHost() = default;

  // Starts `spec` as the leader of a new process group and returns its pid.
  // The host holds the group until Release(pid); a host that is destroyed
  // kills every group it still holds. With `spec.lease` set, a host that has
  // a shim starts the pipeline under it (runner/lease_shim.h): the pid is
  // the shim's, which ends as the pipeline did, and the lease starts now.
  virtual common::Result<pid_t> Spawn(const SpawnSpec& spec) = 0;
  // Sends `signal` to the group led by `leader` (a pid Spawn returned).
  virtual void SignalGroup(pid_t leader, int signal) = 0;
  // Sends `signal` to one process: an orphan that left its group.
  virtual void Signal(pid_t pid, int signal) = 0;
  // One child that has ended (a leader Spawn started, or an orphan we
  // inherited as subreaper), without waiting; nullopt when none has.
  virtual std::optional<Exited> Reap() = 0;
  // The run of `leader` is over: kills what is left of its group and forgets
  // it, reaping the leader if Reap has not. Unknown pids are ignored.
  virtual void Release(pid_t leader) = 0;
  // The runner still has the broker: renews the lease of `leader`'s run.
  // Unknown pids and runs without a lease are ignored.
  virtual void RenewLease(pid_t leader) = 0;
  // Kills and removes run cgroups left by an earlier process: with an empty
  // `run_id` every one of this runner's, else every one of that run's in
  // this deployment. Returns how many; 0 without cgroups.
  virtual int SweepCgroups(const std::string& run_id) = 0;
  // Every process the host may inspect, with the run each belongs to.
  virtual std::vector<ProcessInfo> Scan() = 0;
  // Our own pid: a process whose ppid is this is a child of ours.
  virtual pid_t self() const = 0;
  // A descriptor that turns readable when a child may have ended, for the
  // runner's poll; -1 if there is none (the runner then polls for exits).
  virtual int exit_fd() const = 0;
};

}  // namespace runner
