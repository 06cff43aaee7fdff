#include "runner/system_process_host.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace runner {

SystemProcessHost::SystemProcessHost(int sigchld_fd) : sigchld_fd_(sigchld_fd) {}

SystemProcessHost::~SystemProcessHost() {
  children_.clear();  // kill and reap before the descriptor goes
  if (sigchld_fd_ >= 0) close(sigchld_fd_);
}

common::Result<pid_t> SystemProcessHost::Spawn(const SpawnSpec& spec) {
  auto child = ChildProcess::Spawn(spec);
  if (!child.ok()) return child.status();
  const pid_t pid = child.value().pid();
  children_.insert_or_assign(pid, std::move(child).value());
  return pid;
}

void SystemProcessHost::SignalGroup(pid_t leader, int signal) {
  auto it = children_.find(leader);
  if (it != children_.end()) it->second.SignalGroup(signal);
}

void SystemProcessHost::Signal(pid_t pid, int signal) {
  if (pid > 0) kill(pid, signal);
}

std::optional<Exited> SystemProcessHost::Reap() {
  // Drain before waiting: a SIGCHLD that arrives after the drain leaves the
  // descriptor readable, so no exit is ever slept through.
  if (sigchld_fd_ >= 0) {
    signalfd_siginfo info;
    while (read(sigchld_fd_, &info, sizeof info) == sizeof info) {
    }
  }
  Exited exited;
  pid_t pid;
  while ((pid = waitpid(-1, &exited.wait_status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (pid <= 0) return std::nullopt;
  exited.pid = pid;
  // Its pid may be reused from now on, so the group must not be waited for
  // again; it is still signalled, to sweep what the leader left.
  if (auto it = children_.find(pid); it != children_.end()) it->second.MarkReaped();
  return exited;
}

void SystemProcessHost::Release(pid_t leader) { children_.erase(leader); }

std::vector<ProcessInfo> SystemProcessHost::Scan() {
  std::vector<ProcessInfo> all;
  ForEachProcess([&all](const ProcessInfo& p) { all.push_back(p); });
  return all;
}

pid_t SystemProcessHost::self() const { return getpid(); }

}  // namespace runner
