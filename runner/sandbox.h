// Sandbox: the walls the kernel puts around one pipeline run, so a team's
// pipeline (arbitrary code, often running as root like the runner) cannot
// reach what is not its own (docs/security.md).
//
// - Landlock (raw syscalls; the kernel's own ABI, no library): the pipeline
//   may read and execute the system's program folders and the paths the
//   runner lists, read its team's input, and write only beneath its
//   attempt's staging folder. Since ABI 6 it also cannot signal processes
//   outside its own sandbox (the runner, the shim, other runs) nor reach
//   abstract unix sockets made outside it; since ABI 4, with no network,
//   it cannot connect or bind TCP.
// - No network: a new, empty network namespace (needs CAP_SYS_ADMIN), else
//   Landlock's TCP rules; neither possible fails the run rather than run it
//   with a network it was told it would not have.
// - A memory limit (RLIMIT_AS) and a CPU-time limit (RLIMIT_CPU) where the
//   run's cgroup cannot hold memory.max and cpu.max.
//
// Prepare runs in the shim before it forks (it may allocate and open);
// Enter runs in the forked child just before exec and makes only
// async-signal-safe calls.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace runner::sandbox {

enum class Access { kRead, kReadExec, kWrite };

// RLIMIT_CPU's hard limit is this far past the soft one (SIGXCPU there).
inline constexpr std::uint32_t kCpuKillAfterSeconds = 5;

struct Rule {
  std::string path;
  Access access = Access::kRead;
};

struct Rules {
  bool landlock = false;  // false: no filesystem walls (isolation = "off")
  std::vector<Rule> rules;
  bool network = true;
  std::uint64_t memory_bytes = 0;  // 0: no RLIMIT_AS
  // A CPU limit: `cpu_cores` on the run's cgroup (cpu.max) where it can
  // hold one; else RLIMIT_CPU of `cpu_seconds` on the pipeline's processes
  // (SIGXCPU, and SIGKILL 5 s later), so a runaway loop still ends.
  double cpu_cores = 0;
  std::uint32_t cpu_seconds = 0;  // 0: no RLIMIT_CPU
  // The user the pipeline runs as (setgroups, setgid, setuid in the child,
  // after the namespace and before Landlock); nullopt: the shim's own.
  std::optional<std::uint32_t> uid;
  std::uint32_t gid = 0;
};

// A user to run pipelines as: a name from the user database, or a number.
struct User {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string name;
};
common::Result<User> LookupUser(const std::string& name_or_uid);
// Whether this process holds every capability listed (CAP_* numbers) as
// effective: root does, and so does a runner that systemd gave them.
bool HasCapabilities(std::initializer_list<int> capabilities);

// The Landlock ABI this kernel offers; 0 when it has none (or it is off).
int LandlockAbi();

// What a pipeline of the runner may always read and execute: the system's
// program and library folders, time zone data, the few /etc files a program
// needs to start (not all of /etc: the runner's config and keys live there),
// and harmless devices. Paths that do not exist here are left out.
std::vector<Rule> SystemRules();

// Built in the parent: an open ruleset (or none), and what Enter must do.
struct Prepared {
  int ruleset_fd = -1;
  std::optional<std::uint32_t> uid;
  std::uint32_t gid = 0;
  bool new_netns = false;       // unshare(CLONE_NEWNET) in the child
  bool netns_optional = false;  // Landlock denies TCP if unshare fails
  std::uint64_t memory_bytes = 0;
  std::uint32_t cpu_seconds = 0;
};

// Opens every rule's path (O_PATH, following the operator's links; a path
// that is not there fails, naming it) and builds the Landlock ruleset.
// Fails when `rules` asks for walls this kernel cannot build.
common::Result<Prepared> Prepare(const Rules& rules);
// In the forked child: the new namespace, the limit, then the ruleset
// (no_new_privs first, as Landlock requires). Returns 0 or the errno of the
// step that failed, with *step naming it (a static string).
int Enter(const Prepared& prepared, const char** step);
// Closes the ruleset in the parent once the child has it.
void Release(Prepared& prepared);

// The shim's flags for `rules` (ParseShimArgs reads them back).
std::vector<std::string> ShimFlags(const Rules& rules);

}  // namespace runner::sandbox
