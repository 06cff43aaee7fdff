// SystemProcessHost: the ProcessHost over fork/exec (ChildProcess), waitpid,
// kill and /proc. It owns the ChildProcess of every run still held, so
// destroying it kills and reaps them all. With a shim, each run's pipeline
// runs under daybreak-shim and its lease pipe; with a cgroup folder, each
// run gets its own cgroup, killed and removed when the run is released.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "runner/process_host.h"

namespace runner {

struct HostSetup {
  std::string shim;        // daybreak-shim's path; empty: no leases
  std::string cgroup_dir;  // this runner's cgroup folder (cgroup::PrepareRunnerDir); empty: none
};

class SystemProcessHost final : public ProcessHost {
 public:
  // `sigchld_fd` is a non-blocking signalfd for SIGCHLD (blocked in every
  // thread), which this host drains and owns from now on, or -1.
  explicit SystemProcessHost(int sigchld_fd = -1, HostSetup setup = {});
  ~SystemProcessHost() override;
  SystemProcessHost(const SystemProcessHost&) = delete;
  SystemProcessHost& operator=(const SystemProcessHost&) = delete;

  common::Result<pid_t> Spawn(const SpawnSpec& spec) override;
  void SignalGroup(pid_t leader, int signal) override;
  void Signal(pid_t pid, int signal) override;
  std::optional<Exited> Reap() override;
  void Release(pid_t leader) override;
  void RenewLease(pid_t leader) override;
  int SweepCgroups(const std::string& run_id) override;
  std::vector<ProcessInfo> Scan() override;
  pid_t self() const override;
  int exit_fd() const override { return sigchld_fd_; }

  // The cgroup folder of `leader`'s run; empty when it has none.
  std::string CgroupOf(pid_t leader) const;

 private:
  struct Held {
    std::optional<ChildProcess> child;  // reset: killed and reaped
    int lease_fd = -1;   // our end of the shim's lease pipe
    std::string cgroup;  // the run's cgroup folder, or empty
  };
  // Kills the run's group, cgroup and lease; reaps the leader unless reaped.
  void End(Held& held);

  int sigchld_fd_;
  HostSetup setup_;
  std::map<pid_t, Held> children_;  // by leader pid
};

}  // namespace runner
