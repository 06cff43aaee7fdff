// ModelHost: the interleaving checker's ProcessHost. A "pipeline" runs until
// the checker chooses its exit (or the runner signals it: TERM and KILL end
// it at once), and one that exits 0 writes a marker naming its attempt into
// its staged output, so the checker can see whose outputs were promoted.
// It knows which pipelines are live, across a runner's restarts: a
// restarted runner's host is replaced and its pipelines are gone.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/process_host.h"

namespace interleaving {

// Every attempt writes the same name, as real outputs do: a later
// promotion replaces an earlier one's.
inline constexpr const char* kMarker = "marker";

class ModelHost final : public runner::ProcessHost {
 public:
  struct Pipeline {
    std::string staging;  // its cwd: <team>/.staging/<run>.<attempt>
    bool live = true;     // spawned and not exited
  };

  common::Result<pid_t> Spawn(const runner::SpawnSpec& spec) override {
    const pid_t pid = next_pid_++;
    pipelines_[pid] = {spec.cwd, true};
    return pid;
  }
  void SignalGroup(pid_t leader, int signal) override {
    if (signal == SIGTERM || signal == SIGKILL) End(leader, signal);  // W_TERMSIG form
  }
  void Signal(pid_t, int) override {}
  std::optional<runner::Exited> Reap() override {
    if (exited_.empty()) return std::nullopt;
    runner::Exited e = exited_.front();
    exited_.pop_front();
    return e;
  }
  void Release(pid_t leader) override { End(leader, SIGKILL); }
  // Leases and cgroups are the host's business, below the protocol: the
  // model's pipelines end only as the checker says. (No `override`: these
  // are new in ProcessHost and this file builds with or without them.)
  void RenewLease(pid_t) {}
  int SweepCgroups(const std::string&) { return 0; }
  std::vector<runner::ProcessInfo> Scan() override { return {}; }
  pid_t self() const override { return 4242; }
  int exit_fd() const override { return -1; }

  // The checker's choice: pipeline `pid` exits with `code`; 0 first writes
  // the marker file (holding the staging folder's name, "<run>.<attempt>")
  // into its staged output.
  void Exit(pid_t pid, int code) {
    auto it = pipelines_.find(pid);
    if (it == pipelines_.end() || !it->second.live) return;
    if (code == 0) {
      const std::filesystem::path staging(it->second.staging);
      if (std::FILE* f = std::fopen((staging / "output" / kMarker).c_str(), "w")) {
        std::fputs(staging.filename().c_str(), f);
        std::fclose(f);
      }
    }
    it->second.live = false;
    exited_.push_back({pid, W_EXITCODE(code, 0)});
  }
  // The runner died with this host: every pipeline it started is gone.
  void KillAll() {
    for (auto& [pid, p] : pipelines_) p.live = false;
    exited_.clear();
  }
  // Live pipelines, by pid.
  std::vector<pid_t> Live() const {
    std::vector<pid_t> out;
    for (const auto& [pid, p] : pipelines_) {
      if (p.live) out.push_back(pid);
    }
    return out;
  }
  const std::map<pid_t, Pipeline>& pipelines() const { return pipelines_; }

 private:
  void End(pid_t pid, int signal) {
    auto it = pipelines_.find(pid);
    if (it == pipelines_.end() || !it->second.live) return;
    it->second.live = false;
    exited_.push_back({pid, signal});
  }

  pid_t next_pid_ = 1000;
  std::map<pid_t, Pipeline> pipelines_;
  std::deque<runner::Exited> exited_;
};

}  // namespace interleaving
