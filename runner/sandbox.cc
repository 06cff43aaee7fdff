#include "runner/sandbox.h"

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace runner::sandbox {

using common::Code;
using common::Status;

namespace {

// Debian 12's <linux/landlock.h> stops at ABI 2; the kernel here speaks 7.
// The values are the kernel's ABI (include/uapi/linux/landlock.h).
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
constexpr std::uint32_t kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;
constexpr std::uint64_t kFsExecute = 1ULL << 0;
constexpr std::uint64_t kFsWriteFile = 1ULL << 1;
constexpr std::uint64_t kFsReadFile = 1ULL << 2;
constexpr std::uint64_t kFsReadDir = 1ULL << 3;
constexpr std::uint64_t kFsAbi1 = (1ULL << 13) - 1;  // EXECUTE .. MAKE_SYM
constexpr std::uint64_t kFsRefer = 1ULL << 13;       // ABI 2
constexpr std::uint64_t kFsTruncate = 1ULL << 14;    // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ULL << 15;    // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6

struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;  // ABI 4
  std::uint64_t scoped = 0;              // ABI 6
};

struct __attribute__((packed)) PathBeneathAttr {
  std::uint64_t allowed_access = 0;
  std::int32_t parent_fd = -1;
};

std::uint64_t HandledFs(int abi) {
  std::uint64_t fs = kFsAbi1;
  if (abi >= 2) fs |= kFsRefer;
  if (abi >= 3) fs |= kFsTruncate;
  if (abi >= 5) fs |= kFsIoctlDev;
  return fs;
}

// What `access` allows on a folder or, for a file, the rights a file takes
// (a folder-only right on a file is EINVAL).
std::uint64_t Allowed(Access access, bool folder, std::uint64_t handled) {
  std::uint64_t bits = 0;
  switch (access) {
    case Access::kRead:
      bits = kFsReadFile | kFsReadDir;
      break;
    case Access::kReadExec:
      bits = kFsReadFile | kFsReadDir | kFsExecute;
      break;
    case Access::kWrite:
      bits = handled;
      break;
  }
  if (!folder) bits &= kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;
  return bits & handled;
}

void AddIfPresent(std::vector<Rule>& rules, const std::string& path, Access access) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) rules.push_back({path, access});
}

}  // namespace

int LandlockAbi() {
  const long abi = syscall(__NR_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

std::vector<Rule> SystemRules() {
  std::vector<Rule> rules;
  for (const char* dir : {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}) {
    AddIfPresent(rules, dir, Access::kReadExec);
  }
  for (const char* file :
       {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
        "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
        "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf",
        // Certificates, never /etc/ssl/private: a host's TLS keys are not a pipeline's.
        "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates",
        "/etc/alternatives", "/etc/mime.types", "/etc/locale.alias", "/dev/zero", "/dev/full",
        "/dev/random", "/dev/urandom", "/proc/cpuinfo", "/proc/meminfo",
        "/sys/devices/system/cpu"}) {
    AddIfPresent(rules, file, Access::kRead);
  }
  glob_t found{};
  if (glob("/etc/python3*", 0, nullptr, &found) == 0) {
    for (std::size_t i = 0; i < found.gl_pathc; ++i) {
      AddIfPresent(rules, found.gl_pathv[i], Access::kRead);
    }
  }
  globfree(&found);
  AddIfPresent(rules, "/dev/null", Access::kWrite);
  return rules;
}

common::Result<Prepared> Prepare(const Rules& rules) {
  Prepared out;
  out.memory_bytes = rules.memory_bytes;
  out.cpu_seconds = rules.cpu_seconds;
  out.uid = rules.uid;
  out.gid = rules.gid;
  const int abi = (rules.landlock || !rules.network) ? LandlockAbi() : 0;
  if (!rules.network) {
    // An empty namespace takes everything (UDP, unix paths aside); without
    // the right to make one, Landlock's TCP rules are the fallback.
    out.new_netns = true;
    out.netns_optional = abi >= 4;
  }
  if (!rules.landlock && !(out.new_netns && out.netns_optional)) return out;
  if (abi == 0) {
    return Status::Error(Code::kRejected,
                         "the kernel has no Landlock (isolation needs it): " +
                             std::string(std::strerror(errno)));
  }
  RulesetAttr attr;
  attr.handled_access_fs = rules.landlock ? HandledFs(abi) : 0;
  if (!rules.network && abi >= 4) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (rules.landlock && abi >= 6) attr.scoped = kScopeAbstractUnix | kScopeSignal;
  const std::size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(std::uint64_t)
                                                             : sizeof(std::uint64_t);
  const long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  if (fd < 0) {
    return Status::Error(Code::kIoError,
                         std::string("landlock_create_ruleset: ") + std::strerror(errno));
  }
  out.ruleset_fd = static_cast<int>(fd);
  for (const Rule& rule : rules.landlock ? rules.rules : std::vector<Rule>{}) {
    const int path_fd = open(rule.path.c_str(), O_PATH | O_CLOEXEC);
    struct stat st {};
    if (path_fd < 0 || fstat(path_fd, &st) != 0) {
      const int err = errno;
      if (path_fd >= 0) close(path_fd);
      Release(out);
      return Status::Error(Code::kIoError,
                           "sandbox: cannot open " + rule.path + ": " + std::strerror(err));
    }
    PathBeneathAttr beneath;
    beneath.allowed_access = Allowed(rule.access, S_ISDIR(st.st_mode), attr.handled_access_fs);
    beneath.parent_fd = path_fd;
    const long added = syscall(__NR_landlock_add_rule, out.ruleset_fd, kRulePathBeneath,
                               &beneath, 0);
    const int err = errno;
    close(path_fd);
    if (added != 0) {
      Release(out);
      return Status::Error(Code::kIoError,
                           "sandbox: cannot allow " + rule.path + ": " + std::strerror(err));
    }
  }
  return out;
}

int Enter(const Prepared& prepared, const char** step) {
  // A runner under systemd holds ambient capabilities (CAP_SETUID,
  // CAP_DAC_OVERRIDE...) that would survive the exec, and even a setuid to
  // the run's user: a pipeline gets none of them. (EINVAL: a kernel
  // without ambient capabilities, so nothing to clear.)
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *step = "clearing the runner's ambient capabilities";
    return errno;
  }
  if (prepared.new_netns && unshare(CLONE_NEWNET) != 0 && !prepared.netns_optional) {
    *step = "a network namespace (network = false)";
    return errno;
  }
  if (prepared.memory_bytes > 0) {
    const rlimit limit{prepared.memory_bytes, prepared.memory_bytes};
    if (setrlimit(RLIMIT_AS, &limit) != 0) {
      *step = "the memory limit";
      return errno;
    }
  }
  if (prepared.cpu_seconds > 0) {
    const rlimit limit{prepared.cpu_seconds, prepared.cpu_seconds + kCpuKillAfterSeconds};
    if (setrlimit(RLIMIT_CPU, &limit) != 0) {
      *step = "the CPU limit";
      return errno;
    }
  }
  if (prepared.uid) {
    // Groups first: once the uid is dropped, they could not be.
    if (setgroups(0, nullptr) != 0 || setgid(prepared.gid) != 0) {
      *step = "the run's group (run_as_user)";
      return errno;
    }
    if (setuid(*prepared.uid) != 0) {
      *step = "the run's user (run_as_user)";
      return errno;
    }
  }
  if (prepared.ruleset_fd < 0) return 0;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *step = "no_new_privs";
    return errno;
  }
  if (syscall(__NR_landlock_restrict_self, prepared.ruleset_fd, 0) != 0) {
    *step = "the Landlock ruleset";
    return errno;
  }
  close(prepared.ruleset_fd);
  return 0;
}

void Release(Prepared& prepared) {
  if (prepared.ruleset_fd >= 0) close(prepared.ruleset_fd);
  prepared.ruleset_fd = -1;
}

std::vector<std::string> ShimFlags(const Rules& rules) {
  std::vector<std::string> flags;
  if (rules.landlock) {
    flags.push_back("--landlock");
    for (const Rule& rule : rules.rules) {
      flags.push_back(rule.access == Access::kWrite      ? "--allow-write"
                      : rule.access == Access::kReadExec ? "--allow-exec"
                                                         : "--allow-read");
      flags.push_back(rule.path);
    }
  }
  if (!rules.network) flags.push_back("--no-network");
  if (rules.memory_bytes > 0) {
    flags.insert(flags.end(), {"--memory-max-bytes", std::to_string(rules.memory_bytes)});
  }
  if (rules.cpu_cores > 0) {
    flags.insert(flags.end(), {"--cpu-cores", std::to_string(rules.cpu_cores)});
  }
  if (rules.cpu_seconds > 0) {
    flags.insert(flags.end(), {"--cpu-seconds", std::to_string(rules.cpu_seconds)});
  }
  if (rules.uid) {
    flags.insert(flags.end(), {"--uid", std::to_string(*rules.uid), "--gid", std::to_string(rules.gid)});
  }
  return flags;
}

bool HasCapabilities(std::initializer_list<int> capabilities) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("CapEff:")) continue;
    const unsigned long long effective = std::strtoull(line.c_str() + 7, nullptr, 16);
    for (int cap : capabilities) {
      if ((effective & (1ULL << cap)) == 0) return false;
    }
    return true;
  }
  return false;
}

common::Result<User> LookupUser(const std::string& name_or_uid) {
  User user;
  std::vector<char> buffer(16384);
  passwd entry {};
  passwd* found = nullptr;
  char* end = nullptr;
  errno = 0;
  const unsigned long number = std::strtoul(name_or_uid.c_str(), &end, 10);
  const bool numeric = !name_or_uid.empty() && *end == '\0' && errno == 0 && number <= 0x7fffffffUL;
  if (numeric) {
    getpwuid_r(static_cast<uid_t>(number), &entry, buffer.data(), buffer.size(), &found);
    user.uid = static_cast<std::uint32_t>(number);
    user.gid = found != nullptr ? found->pw_gid : user.uid;  // a bare uid: its own group id
    user.name = found != nullptr ? found->pw_name : name_or_uid;
    if (user.uid == 0) {
      return Status::Error(Code::kInvalid, "runner.run_as_user: uid 0 is root; pick a user without privileges");
    }
    return user;
  }
  getpwnam_r(name_or_uid.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    return Status::Error(Code::kNotFound, "runner.run_as_user: no user \"" + name_or_uid +
                                              "\" on this host (a name or a uid)");
  }
  user.uid = found->pw_uid;
  user.gid = found->pw_gid;
  user.name = found->pw_name;
  if (user.uid == 0) {
    return Status::Error(Code::kInvalid, "runner.run_as_user: \"" + name_or_uid +
                                             "\" is root; pick a user without privileges");
  }
  return user;
}

}  // namespace runner::sandbox
