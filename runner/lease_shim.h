// LeaseShim: daybreak-shim's logic. The runner starts the shim in place of
// a pipeline; the shim starts the pipeline (in the run's cgroup, when it has
// one), owns it, and keeps it only while the runner keeps renewing its
// lease: a byte on the lease pipe renews it, silence for the lease's length
// ends the pipeline (TERM, KILL after the grace), end of file (the runner
// died) ends it at once. The shim needs nothing of the runner to do this,
// so a stopped or partitioned runner's pipeline does not outlive what the
// broker allows it (PROTOCOL.md, "Leases").
//
// The shim is a child subreaper: whatever the pipeline leaves behind, even
// after setsid and with its environment cleared, becomes the shim's child,
// and the shim kills it before it exits. It ends as the pipeline did (the
// same exit code, or the same signal), so the runner's Classify is
// unchanged; a lapsed lease ends it with 75 (EX_TEMPFAIL): transient.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runner/sandbox.h"

namespace runner {

// How the lapse ends the shim: a temporary failure, so the run is retried.
inline constexpr int kLeaseLapsedExit = 75;
// How the shim ends when it cannot build the run's sandbox: the pipeline
// never ran (126: "cannot execute"), and the log says why.
inline constexpr int kSandboxFailedExit = 126;
// The shim's process name, as /proc shows it.
inline constexpr std::string_view kShimName = "daybreak-shim";
// The descriptor the runner hands the lease pipe's read end on.
inline constexpr int kLeaseFd = 3;

struct ShimOptions {
  std::chrono::milliseconds lease{0};  // > 0
  std::chrono::milliseconds grace{0};  // TERM to KILL
  std::string cgroup;                  // the run's cgroup folder; empty: none
  int lease_fd = kLeaseFd;
  sandbox::Rules sandbox;              // the walls around the pipeline
  std::vector<std::string> argv;       // the pipeline
};

// `daybreak-shim --lease-ms N --grace-ms N [--cgroup DIR] [--lease-fd N]
// [--landlock] [--allow-read|--allow-exec|--allow-write PATH]...
// [--no-network] [--memory-max-bytes N] [--uid N --gid N] -- PROGRAM ARGS...`, argv[0] being the shim. Fails naming the problem.
common::Result<ShimOptions> ParseShimArgs(const std::vector<std::string>& args);
// The shim's command line for `options` (ParseShimArgs's inverse), with
// `shim` as argv[0].
std::vector<std::string> ShimCommand(const std::string& shim, const ShimOptions& options);

class LeaseShim {
 public:
  explicit LeaseShim(ShimOptions options) : options_(std::move(options)) {}
  LeaseShim(const LeaseShim&) = delete;
  LeaseShim& operator=(const LeaseShim&) = delete;

  // Starts the pipeline and serves its lease until it has ended and every
  // descendant is gone. Returns the wait status the shim should end with
  // (ExitAs). REQUIRES: single-threaded caller that may become a subreaper
  // and block signals (a whole process: daybreak-shim's main).
  int Run();

 private:
  // Sends `signal` to everything the pipeline started: the cgroup, our
  // process group (the pipeline's), and the children we adopted.
  void SignalTree(int signal);
  // Kills every descendant and reaps until none is left; remembers the
  // pipeline's status if it is among them.
  void KillTree();
  // Reaps every child that has ended, noting the pipeline's status.
  void ReapSome();

  ShimOptions options_;
  pid_t pipeline_ = -1;
  bool pipeline_ended_ = false;
  int pipeline_status_ = 0;
};

// Ends the calling process as `wait_status` says: the same exit code, or
// the same signal (without a core dump).
[[noreturn]] void ExitAs(int wait_status);

}  // namespace runner
