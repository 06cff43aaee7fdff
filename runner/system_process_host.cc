#include "runner/system_process_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runner/cgroup.h"
#include "runner/lease_shim.h"

namespace runner {

namespace {

// How long a release waits for a killed cgroup to empty before rmdir.
constexpr std::chrono::milliseconds kCgroupPatience{2000};

// A run's cgroup name as given when it is a plain component, else made one.
std::string Leaf(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 100 && name[0] != '.' &&
                     name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789._-") == std::string::npos;
  return plain ? name : cgroup::Component(name);
}

}  // namespace

SystemProcessHost::SystemProcessHost(int sigchld_fd, HostSetup setup)
    : sigchld_fd_(sigchld_fd), setup_(std::move(setup)) {}

SystemProcessHost::~SystemProcessHost() {
  for (auto& [pid, held] : children_) End(held);  // kill and reap before the descriptor goes
  children_.clear();
  if (sigchld_fd_ >= 0) close(sigchld_fd_);
  // This runner's folder, and the deployment's if no other runner uses it
  // (rmdir refuses a folder that still has cgroups in it).
  if (!setup_.cgroup_dir.empty() && rmdir(setup_.cgroup_dir.c_str()) == 0) {
    rmdir(std::filesystem::path(setup_.cgroup_dir).parent_path().c_str());
  }
}

common::Result<pid_t> SystemProcessHost::Spawn(const SpawnSpec& spec) {
  if (spec.lease.count() <= 0 || setup_.shim.empty() || spec.argv.empty()) {
    // Walls are the shim's to build; a run promised some never runs without.
    if (spec.sandbox.landlock || !spec.sandbox.network || spec.sandbox.memory_bytes > 0 ||
        spec.sandbox.cpu_cores > 0 || spec.sandbox.uid) {
      return common::Status::Error(
          common::Code::kRejected,
          std::string("cannot start ") + (spec.argv.empty() ? "" : spec.argv[0]) +
              ": its sandbox (Landlock, network = false, a memory or CPU limit, or run_as_user) needs " +
              std::string(kShimName) + " beside the runner");
    }
    auto child = ChildProcess::Spawn(spec);
    if (!child.ok()) return child.status();
    const pid_t pid = child.value().pid();
    children_.insert_or_assign(pid, Held{std::move(child).value(), -1, ""});
    return pid;
  }
  // The program is found here, so "not on PATH" stays the runner's clear
  // error rather than the shim's exit 127.
  auto program = ResolveProgram(spec.argv[0], spec.env);
  if (!program.ok()) return program.status();
  ShimOptions shim;
  shim.lease = spec.lease;
  shim.grace = spec.lease_grace;
  shim.argv = spec.argv;
  shim.argv[0] = program.value();
  shim.sandbox = spec.sandbox;
  if (!setup_.cgroup_dir.empty()) {
    shim.cgroup = setup_.cgroup_dir + "/" + Leaf(spec.name.empty() ? "run" : spec.name);
    if (common::Status s = cgroup::Create(shim.cgroup); !s.ok()) {
      spdlog::warn("{}; the run's processes are followed by group and subreaper", s.message());
      shim.cgroup.clear();
    }
  }
  int lease[2];
  if (pipe2(lease, O_CLOEXEC | O_NONBLOCK) != 0) {
    if (!shim.cgroup.empty()) cgroup::Remove(shim.cgroup, kCgroupPatience);
    return common::Status::Error(common::Code::kIoError,
                                 std::string("lease pipe: ") + std::strerror(errno));
  }
  SpawnSpec wrapped = spec;
  wrapped.argv = ShimCommand(setup_.shim, shim);
  wrapped.pass_fd = lease[0];
  auto child = ChildProcess::Spawn(wrapped);
  close(lease[0]);
  if (!child.ok()) {
    close(lease[1]);
    if (!shim.cgroup.empty()) cgroup::Remove(shim.cgroup, kCgroupPatience);
    return child.status();
  }
  const pid_t pid = child.value().pid();
  children_.insert_or_assign(pid, Held{std::move(child).value(), lease[1], shim.cgroup});
  return pid;
}

void SystemProcessHost::SignalGroup(pid_t leader, int signal) {
  auto it = children_.find(leader);
  if (it == children_.end()) return;
  if (it->second.child) it->second.child->SignalGroup(signal);
  // The cgroup reaches what left the group (setsid); KILL through
  // cgroup.kill, without waiting: the run's exit is reaped as usual.
  if (it->second.cgroup.empty()) return;
  if (signal == SIGKILL) {
    cgroup::Kill(it->second.cgroup, std::chrono::milliseconds(0));
  } else {
    cgroup::Signal(it->second.cgroup, signal);
  }
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
  if (auto it = children_.find(pid); it != children_.end() && it->second.child) {
    it->second.child->MarkReaped();
  }
  return exited;
}

void SystemProcessHost::End(Held& held) {
  // The lease first: a shim still alive sees the end of its pipe and kills
  // its tree, should the group's KILL below miss a part of it.
  if (held.lease_fd >= 0) close(held.lease_fd);
  held.lease_fd = -1;
  if (!held.cgroup.empty()) cgroup::Kill(held.cgroup, std::chrono::milliseconds(0));
  held.child.reset();  // kills the group, reaps the leader
  if (!held.cgroup.empty() && !cgroup::Remove(held.cgroup, kCgroupPatience)) {
    spdlog::warn("cgroup {} is still busy; the next sweep removes it", held.cgroup);
  }
}

void SystemProcessHost::Release(pid_t leader) {
  auto it = children_.find(leader);
  if (it == children_.end()) return;
  End(it->second);
  children_.erase(it);
}

void SystemProcessHost::RenewLease(pid_t leader) {
  auto it = children_.find(leader);
  if (it == children_.end() || it->second.lease_fd < 0) return;
  // Non-blocking: a full pipe means the shim has plenty of renewals unread.
  (void)!write(it->second.lease_fd, "r", 1);
}

int SystemProcessHost::SweepCgroups(const std::string& run_id) {
  if (setup_.cgroup_dir.empty()) return 0;
  if (run_id.empty()) return cgroup::SweepChildren(setup_.cgroup_dir, kCgroupPatience);
  // Any runner's of this deployment: an earlier attempt may have run under
  // another runner id on this host.
  const std::filesystem::path deployment = std::filesystem::path(setup_.cgroup_dir).parent_path();
  const std::string prefix = Leaf(run_id) + "-a";
  int swept = 0;
  std::error_code ec;
  for (const auto& runner_dir : std::filesystem::directory_iterator(deployment, ec)) {
    if (!runner_dir.is_directory(ec)) continue;
    for (const auto& run : std::filesystem::directory_iterator(runner_dir.path(), ec)) {
      if (!run.is_directory(ec) || !run.path().filename().string().starts_with(prefix)) continue;
      bool ours = false;
      for (const auto& [pid, held] : children_) ours = ours || held.cgroup == run.path().string();
      if (ours) continue;
      cgroup::Remove(run.path().string(), kCgroupPatience);
      ++swept;
    }
  }
  return swept;
}

std::string SystemProcessHost::CgroupOf(pid_t leader) const {
  auto it = children_.find(leader);
  return it == children_.end() ? "" : it->second.cgroup;
}

std::vector<ProcessInfo> SystemProcessHost::Scan() {
  std::vector<ProcessInfo> all;
  ForEachProcess([&](const ProcessInfo& p) { all.push_back(p); });
  return all;
}

pid_t SystemProcessHost::self() const { return getpid(); }

}  // namespace runner
