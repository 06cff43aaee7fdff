// Cgroup v2 for pipeline runs: where the unified hierarchy is mounted, our
// own place in it, and one cgroup per run that is killed as a whole,
// whatever its processes did to their session, group or environment. Only
// plain file operations on cgroupfs; no library, no systemd.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace runner::cgroup {

// The mount point of the cgroup2 filesystem, from `mountinfo` (the text of
// /proc/self/mountinfo); nullopt when there is none.
std::optional<std::string> FindRoot(std::string_view mountinfo);
// Our own cgroup, relative to the root, from `proc_cgroup` (the text of
// /proc/self/cgroup): the path of its "0::" line ("/" at the root).
std::optional<std::string> OwnPath(std::string_view proc_cgroup);
// `text` as one safe path component: [A-Za-z0-9._-] kept, anything else
// '_', at most 48 characters, then '-' and 8 hex digits of a hash of the
// whole text, so two names that sanitise alike still differ.
std::string Component(std::string_view text);

// The folder under which this runner's run cgroups live:
// <root><own>/daybreak-<deployment>/<runner id>, created if need be. Fails
// (with the reason, for the log) when cgroup v2 is absent or not writable;
// the runner then uses process groups and a subreaper only.
common::Result<std::string> PrepareRunnerDir(const std::string& deployment,
                                             const std::string& runner_id);

// Creates the cgroup `dir` (an existing one is fine).
common::Status Create(const std::string& dir);
// Moves process `pid` (0: the caller) into `dir`. Async-signal-safe: a
// forked child calls it before exec.
bool EnterSafe(const char* procs_file, pid_t pid);
// The pids in `dir` now (empty when it is gone).
std::vector<pid_t> Pids(const std::string& dir);
// Kills everything in `dir` with SIGKILL: cgroup.kill where the kernel has
// it (5.14), else every pid in cgroup.procs, repeated until it is empty or
// `patience` has passed. True once it is empty.
bool Kill(const std::string& dir, std::chrono::milliseconds patience);
// Sends `signal` to every process in `dir` (for TERM, which cgroup.kill
// does not do).
void Signal(const std::string& dir, int signal);
// Sets the cgroup's memory.max; false where its memory controller is not
// enabled (no memory.max: a hybrid host's unified tree has no controllers).
bool SetMemoryMax(const std::string& dir, std::uint64_t bytes);
// Sets the cgroup's cpu.max to `cores` CPUs' worth of time per 100 ms
// period (0.5: 50 ms); false where its cpu controller is not enabled.
bool SetCpuMax(const std::string& dir, double cores);
// How many processes the kernel's OOM killer ended at the cgroup's limit
// (memory.events "oom_kill"); 0 without the file.
long OomKills(const std::string& dir);
// Kills what is left and removes `dir`; true when it is gone.
bool Remove(const std::string& dir, std::chrono::milliseconds patience);
// Every run cgroup left in `runner_dir` (children of it), killed and
// removed; returns how many there were.
int SweepChildren(const std::string& runner_dir, std::chrono::milliseconds patience);

}  // namespace runner::cgroup
