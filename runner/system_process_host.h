// SystemProcessHost: the ProcessHost over fork/exec (ChildProcess), waitpid,
// kill and /proc. It owns the ChildProcess of every run still held, so
// destroying it kills and reaps them all.
#pragma once

#include <map>

#include "runner/process_host.h"

namespace runner {

class SystemProcessHost final : public ProcessHost {
 public:
  // `sigchld_fd` is a non-blocking signalfd for SIGCHLD (blocked in every
  // thread), which this host drains and owns from now on, or -1.
  explicit SystemProcessHost(int sigchld_fd = -1);
  ~SystemProcessHost() override;
  SystemProcessHost(const SystemProcessHost&) = delete;
  SystemProcessHost& operator=(const SystemProcessHost&) = delete;

  common::Result<pid_t> Spawn(const SpawnSpec& spec) override;
  void SignalGroup(pid_t leader, int signal) override;
  void Signal(pid_t pid, int signal) override;
  std::optional<Exited> Reap() override;
  void Release(pid_t leader) override;
  std::vector<ProcessInfo> Scan() override;
  pid_t self() const override;
  int exit_fd() const override { return sigchld_fd_; }

 private:
  int sigchld_fd_;
  std::map<pid_t, ChildProcess> children_;  // by leader pid
};

}  // namespace runner
