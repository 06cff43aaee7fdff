// FakeProcessHost: a ProcessHost with no processes. It records what the
// runner asked (spawns, signals, releases), ends a "child" when the test
// says so, and wakes the runner's poll through an eventfd as SIGCHLD would.
#pragma once

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runner/process_host.h"

namespace testing {

class FakeProcessHost final : public runner::ProcessHost {
 public:
  static constexpr pid_t kSelf = 4242;  // the runner's pid, as orphans see it

  struct Sent {
    pid_t pid;
    int signal;
    bool group;
  };

  // Without an exit descriptor the runner must fall back to polling.
  explicit FakeProcessHost(bool with_exit_fd = true)
      : fd_(with_exit_fd ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1) {}
  ~FakeProcessHost() override {
    if (fd_ >= 0) close(fd_);
  }
  FakeProcessHost(const FakeProcessHost&) = delete;
  FakeProcessHost& operator=(const FakeProcessHost&) = delete;

  common::Result<pid_t> Spawn(const runner::SpawnSpec& spec) override {
    if (spawn_error) return *spawn_error;
    spawned.push_back(spec);
    const pid_t pid = next_pid_++;
    live.insert(pid);
    return pid;
  }
  void SignalGroup(pid_t leader, int signal) override {
    signals.push_back({leader, signal, true});
    if (exit_on_term && signal == SIGTERM) Exit(leader, KilledBy(SIGTERM));
  }
  void Signal(pid_t pid, int signal) override { signals.push_back({pid, signal, false}); }
  std::optional<runner::Exited> Reap() override {
    std::uint64_t count;
    if (fd_ >= 0) (void)!read(fd_, &count, sizeof count);
    ++reap_calls;
    if (exited_.empty()) return std::nullopt;
    runner::Exited e = exited_.front();
    exited_.pop_front();
    return e;
  }
  void Release(pid_t leader) override {
    released.push_back(leader);
    live.erase(leader);
  }
  void RenewLease(pid_t leader) override { ++renewals[leader]; }
  int SweepCgroups(const std::string& run_id) override {
    cgroup_sweeps.push_back(run_id);
    return 0;
  }
  std::vector<runner::ProcessInfo> Scan() override {
    ++scans;
    return processes;
  }
  pid_t self() const override { return kSelf; }
  int exit_fd() const override { return fd_; }

  // Ends `pid` with a waitpid status, as the kernel would report it.
  void Exit(pid_t pid, int wait_status) {
    exited_.push_back({pid, wait_status});
    const std::uint64_t one = 1;
    if (fd_ >= 0) (void)!write(fd_, &one, sizeof one);
  }
  static int ExitCode(int code) { return W_EXITCODE(code, 0); }
  static int KilledBy(int signal) { return signal; }  // WIFSIGNALED form

  // How many times `signal` went to `pid` (`group`: to its process group).
  int Count(pid_t pid, int signal, bool group = true) const {
    return static_cast<int>(std::count_if(signals.begin(), signals.end(), [&](const Sent& s) {
      return s.pid == pid && s.signal == signal && s.group == group;
    }));
  }
  pid_t last_pid() const { return next_pid_ - 1; }

  // What the test may look at or set.
  std::vector<runner::SpawnSpec> spawned;
  std::vector<Sent> signals;
  std::vector<pid_t> released;
  std::set<pid_t> live;
  std::vector<runner::ProcessInfo> processes;  // what Scan returns
  std::map<pid_t, int> renewals;               // RenewLease calls, by leader
  std::vector<std::string> cgroup_sweeps;      // SweepCgroups calls, by run id
  std::optional<common::Status> spawn_error;
  bool exit_on_term = false;  // a pipeline that exits at once on TERM
  int scans = 0;
  int reap_calls = 0;

 private:
  int fd_;
  pid_t next_pid_ = 1000;
  std::deque<runner::Exited> exited_;
};

}  // namespace testing
