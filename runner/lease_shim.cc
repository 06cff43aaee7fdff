#include "runner/lease_shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "runner/cgroup.h"
#include "runner/outcome.h"
#include "runner/process_scan.h"

namespace runner {

using common::Code;
using common::Status;
using Mono = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

namespace {

// How long the shim waits for a killed cgroup to empty before it goes on
// with the adopted children (which it kills one by one anyway).
constexpr milliseconds kCgroupPatience{2000};

// One line in the run's log (our stderr), marked as ours.
template <typename... Args>
void Say(const char* format, Args... args) {
  std::fprintf(stderr, "daybreak-shim: ");
  std::fprintf(stderr, format, args...);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

common::Result<long> Number(const std::vector<std::string>& args, std::size_t& i) {
  if (i + 1 >= args.size()) return Status::Error(Code::kInvalid, args[i] + " needs a value");
  const std::string& text = args[++i];
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < 0) {
    return Status::Error(Code::kInvalid, args[i - 1] + ": \"" + text + "\" is not a number >= 0");
  }
  return value;
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Every pid whose parent is us: the pipeline and the orphans we adopted.
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  const pid_t self = getpid();
  ForEachProcess([&](const ProcessInfo& p) {
    if (p.ppid == self && p.state != 'Z') out.push_back(p.pid);
  });
  return out;
}

// CPU time (user and system) of the children we reaped, in seconds.
double ChildrenCpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_CHILDREN, &usage) != 0) return 0;
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

common::Result<ShimOptions> ParseShimArgs(const std::vector<std::string>& args) {
  ShimOptions o;
  std::size_t i = 1;
  for (; i < args.size() && args[i] != "--"; ++i) {
    const std::string& flag = args[i];
    if (flag == "--landlock") {
      o.sandbox.landlock = true;
      continue;
    }
    if (flag == "--no-network") {
      o.sandbox.network = false;
      continue;
    }
    if (flag == "--cgroup" || flag.starts_with("--allow-")) {
      if (i + 1 >= args.size()) return Status::Error(Code::kInvalid, flag + " needs a value");
      const std::string& value = args[++i];
      if (flag == "--cgroup") {
        o.cgroup = value;
      } else if (flag == "--allow-read" || flag == "--allow-exec" || flag == "--allow-write") {
        const auto access = flag == "--allow-read"   ? sandbox::Access::kRead
                            : flag == "--allow-exec" ? sandbox::Access::kReadExec
                                                     : sandbox::Access::kWrite;
        o.sandbox.rules.push_back({value, access});
      } else {
        return Status::Error(Code::kInvalid, "unknown option " + flag);
      }
      continue;
    }
    if (flag == "--cpu-cores") {
      if (i + 1 >= args.size()) return Status::Error(Code::kInvalid, flag + " needs a value");
      const std::string& value = args[++i];
      char* end = nullptr;
      const double cores = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(cores > 0 && cores <= 1024)) {
        return Status::Error(Code::kInvalid, "--cpu-cores \"" + value + "\" is not a number of CPUs in (0, 1024]");
      }
      o.sandbox.cpu_cores = cores;
      continue;
    }
    if (flag == "--memory-max-bytes" || flag == "--uid" || flag == "--gid" || flag == "--cpu-seconds") {
      auto value = Number(args, i);
      if (!value.ok()) return value.status();
      if (flag == "--memory-max-bytes") o.sandbox.memory_bytes = static_cast<std::uint64_t>(value.value());
      if (flag == "--uid") o.sandbox.uid = static_cast<std::uint32_t>(value.value());
      if (flag == "--gid") o.sandbox.gid = static_cast<std::uint32_t>(value.value());
      if (flag == "--cpu-seconds") o.sandbox.cpu_seconds = static_cast<std::uint32_t>(value.value());
      continue;
    }
    if (flag != "--lease-ms" && flag != "--grace-ms" && flag != "--lease-fd") {
      return Status::Error(Code::kInvalid, "unknown option " + flag);
    }
    auto value = Number(args, i);
    if (!value.ok()) return value.status();
    if (flag == "--lease-ms") o.lease = milliseconds(value.value());
    if (flag == "--grace-ms") o.grace = milliseconds(value.value());
    if (flag == "--lease-fd") o.lease_fd = static_cast<int>(value.value());
  }
  if (i >= args.size()) return Status::Error(Code::kInvalid, "no -- before the pipeline's command");
  o.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  if (o.argv.empty()) return Status::Error(Code::kInvalid, "no pipeline command after --");
  if (o.lease <= milliseconds(0)) return Status::Error(Code::kInvalid, "--lease-ms must be > 0");
  return o;
}

std::vector<std::string> ShimCommand(const std::string& shim, const ShimOptions& o) {
  std::vector<std::string> argv = {shim, "--lease-ms", std::to_string(o.lease.count()),
                                   "--grace-ms", std::to_string(o.grace.count())};
  if (!o.cgroup.empty()) argv.insert(argv.end(), {"--cgroup", o.cgroup});
  if (o.lease_fd != kLeaseFd) argv.insert(argv.end(), {"--lease-fd", std::to_string(o.lease_fd)});
  const std::vector<std::string> walls = sandbox::ShimFlags(o.sandbox);
  argv.insert(argv.end(), walls.begin(), walls.end());
  argv.push_back("--");
  argv.insert(argv.end(), o.argv.begin(), o.argv.end());
  return argv;
}

void ExitAs(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    raise(sig);
    _exit(128 + sig);  // a signal that does not end a process
  }
  _exit(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 127);
}

void LeaseShim::ReapSome() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == pipeline_) {
      pipeline_ended_ = true;
      pipeline_status_ = status;
    }
  }
}

void LeaseShim::SignalTree(int signal) {
  if (!options_.cgroup.empty()) cgroup::Signal(options_.cgroup, signal);
  // Our group is the pipeline's (we lead it); our own copy of the signal
  // waits in the signalfd, harmlessly.
  kill(0, signal);
  for (pid_t pid : Children()) kill(pid, signal);
}

void LeaseShim::KillTree() {
  if (!options_.cgroup.empty()) cgroup::Kill(options_.cgroup, kCgroupPatience);
  // Killing a child reparents its children to us (we are their subreaper),
  // so kill and reap until no child is left: that is every descendant,
  // whatever it did to its session or environment.
  while (true) {
    for (pid_t pid : Children()) kill(pid, SIGKILL);
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left
    }
    if (pid == pipeline_) {
      pipeline_ended_ = true;
      pipeline_status_ = status;
    }
  }
}

int LeaseShim::Run() {
  // We must outlive the runner to kill the pipeline when it dies; the
  // runner's spawn gave us a death signal, which would make us die first.
  prctl(PR_SET_PDEATHSIG, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // The runner made us a group leader; started any other way we become one,
  // so signalling our group never reaches whoever started us.
  if (getpgrp() != getpid()) setpgid(0, 0);
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  const int signals = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
  fcntl(options_.lease_fd, F_SETFL, fcntl(options_.lease_fd, F_GETFL) | O_NONBLOCK);
  fcntl(options_.lease_fd, F_SETFD, FD_CLOEXEC);

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    Say("cannot start %s: pipe: %s", options_.argv[0].c_str(), std::strerror(errno));
    return W_EXITCODE(127, 0);
  }
  const std::string procs = options_.cgroup.empty() ? "" : options_.cgroup + "/cgroup.procs";
  std::vector<char*> argv = CStrings(options_.argv);
  // Built here, where we may allocate and open; the child only enters it.
  // A memory limit goes on the run's cgroup where its controller is on
  // (the kernel then counts OOM kills), else on the pipeline as RLIMIT_AS.
  sandbox::Rules rules = options_.sandbox;
  const std::uint64_t memory_limit = rules.memory_bytes;
  const bool cgroup_limit = memory_limit > 0 && !options_.cgroup.empty() &&
                            cgroup::SetMemoryMax(options_.cgroup, memory_limit);
  if (cgroup_limit) rules.memory_bytes = 0;
  // The CPU likewise: cpu.max throttles the run to its share; without it,
  // RLIMIT_CPU at least ends a run that spins past its CPU time.
  if (rules.cpu_cores > 0 && !options_.cgroup.empty() && cgroup::SetCpuMax(options_.cgroup, rules.cpu_cores)) {
    rules.cpu_seconds = 0;
  }
  const std::uint32_t cpu_seconds = rules.cpu_seconds;
  auto walls = sandbox::Prepare(rules);
  if (!walls.ok()) {
    Say("cannot start %s: %s", options_.argv[0].c_str(), walls.status().message().c_str());
    return W_EXITCODE(kSandboxFailedExit, 0);
  }
  const pid_t self = getpid();
  pipeline_ = fork();
  if (pipeline_ < 0) {
    Say("cannot start %s: fork: %s", options_.argv[0].c_str(), std::strerror(errno));
    return W_EXITCODE(127, 0);
  }
  if (pipeline_ == 0) {
    close(report[0]);
    int stage = 0;
    // Into the run's cgroup before exec, so nothing it starts is outside.
    if (!procs.empty() && !cgroup::EnterSafe(procs.c_str(), 0)) stage = 1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Before the descriptors go: the ruleset is one of them.
    const char* step = "";
    if (const int failed = sandbox::Enter(walls.value(), &step); failed != 0) {
      // The message is the parent's to write (it may allocate); it reads
      // the step from its own copy of our memory: the same string literal.
      const int err[2] = {3, failed};
      (void)!write(report[1], err, sizeof err);
      (void)!write(report[1], &step, sizeof step);
      _exit(kSandboxFailedExit);
    }
    if (report[1] > 3) syscall(SYS_close_range, 3, report[1] - 1, 0);
    syscall(SYS_close_range, report[1] + 1, ~0U, 0);
    if (stage == 1) {
      const int err[2] = {1, errno};
      (void)!write(report[1], err, sizeof err);  // a warning: we go on
    }
    execvp(argv[0], argv.data());
    const int err[2] = {2, errno};
    (void)!write(report[1], err, sizeof err);
    _exit(127);
  }
  close(report[1]);
  int err[2] = {0, 0};
  ssize_t n;
  while ((n = read(report[0], err, sizeof err)) < 0 && errno == EINTR) {
  }
  if (n == sizeof err && err[0] == 1) {
    Say("cannot enter cgroup %s: %s; its descendants are followed as ours instead",
        options_.cgroup.c_str(), std::strerror(err[1]));
    while ((n = read(report[0], err, sizeof err)) < 0 && errno == EINTR) {
    }
  }
  const char* step = nullptr;
  if (n == sizeof err && err[0] == 3 && read(report[0], &step, sizeof step) == sizeof step) {
    Say("cannot start %s: cannot enter %s: %s", options_.argv[0].c_str(), step,
        std::strerror(err[1]));
  }
  close(report[0]);
  sandbox::Release(walls.value());
  if (n == sizeof err && err[0] == 2) {
    if (err[1] == EACCES && options_.sandbox.uid) {
      Say("cannot start %s: %s (as uid %u: every folder on its path must let that user in)",
          options_.argv[0].c_str(), std::strerror(err[1]), *options_.sandbox.uid);
    } else {
      Say("cannot start %s: %s", options_.argv[0].c_str(), std::strerror(err[1]));
    }
  }

  Mono lease_end = std::chrono::steady_clock::now() + options_.lease;
  std::optional<Mono> kill_at;  // set once the lease lapsed and TERM went out
  bool lease_open = true;
  while (!pipeline_ended_) {
    const Mono now = std::chrono::steady_clock::now();
    if (!kill_at && now >= lease_end) {
      Say("lease lapsed: runner silent for %lld ms; pipeline killed (TERM, KILL after %lld ms)",
          static_cast<long long>(options_.lease.count()),
          static_cast<long long>(options_.grace.count()));
      SignalTree(SIGTERM);
      kill_at = now + options_.grace;
    }
    if (kill_at && now >= *kill_at) {
      KillTree();
      return W_EXITCODE(kLeaseLapsedExit, 0);
    }
    const Mono next = kill_at ? *kill_at : lease_end;
    const auto wait = std::chrono::ceil<milliseconds>(next - now).count();
    pollfd items[2] = {{signals, POLLIN, 0}, {lease_open ? options_.lease_fd : -1, POLLIN, 0}};
    if (poll(items, 2, static_cast<int>(std::clamp<long long>(wait, 0, 60'000))) < 0 &&
        errno != EINTR) {
      Say("poll: %s; pipeline killed", std::strerror(errno));
      KillTree();
      return W_EXITCODE(kLeaseLapsedExit, 0);
    }
    if (items[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char bytes[256];
      const ssize_t got = read(options_.lease_fd, bytes, sizeof bytes);
      if (got > 0 && !kill_at) lease_end = std::chrono::steady_clock::now() + options_.lease;
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        // Nobody holds the other end: the runner is gone and will never
        // report this run, so nothing of it may live on.
        lease_open = false;
        Say("runner gone (lease pipe closed); pipeline killed");
        KillTree();
        return W_EXITCODE(kLeaseLapsedExit, 0);
      }
    }
    if (items[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signals, &info, sizeof info) == sizeof info) {
        // TERM from the runner reached our group already; the cgroup's
        // processes that left it get it from us.
        if (info.ssi_signo != SIGCHLD && !options_.cgroup.empty()) {
          cgroup::Signal(options_.cgroup, SIGTERM);
        }
      }
    }
    ReapSome();
  }
  // The pipeline ended: whatever it left goes with it, as the runner's
  // release of a run always did.
  KillTree();
  if (cgroup_limit) {
    if (const long kills = cgroup::OomKills(options_.cgroup); kills > 0) {
      Say("out of memory: the kernel killed %ld process(es) at the run's limit of %llu MiB", kills,
          static_cast<unsigned long long>(memory_limit >> 20));
    }
  }
  // SIGXCPU comes from the soft limit (the kernel's tick may count a hair
  // under it in rusage); a SIGKILL is the hard limit's only when the CPU
  // used is past the soft one (a cancel's KILL comes sooner).
  const int signal_of_end = WIFSIGNALED(pipeline_status_) ? WTERMSIG(pipeline_status_) : 0;
  if (cpu_seconds > 0 && (signal_of_end == SIGXCPU ||
                          (signal_of_end == SIGKILL && ChildrenCpuSeconds() >= cpu_seconds))) {
    Say("%s: the pipeline used its %u s of CPU time", kCpuLimitSign, cpu_seconds);
  }
  // However it ended after the lapse (a TERM handler may exit 1), the
  // lapse is why: a temporary failure, not the pipeline's verdict.
  return kill_at ? W_EXITCODE(kLeaseLapsedExit, 0) : pipeline_status_;
}

}  // namespace runner
