#include "runner/child_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace runner {

using common::Code;
using common::Status;

namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

// Resolves a bare command name on PATH, in the parent: the child may only
// make async-signal-safe calls.
common::Result<std::string> ResolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : env) {
    if (e.starts_with("PATH=")) path = e.substr(5);
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find(':', start), path.size());
    const std::string candidate = path.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return Status::Error(Code::kNotFound, "cannot start " + name + ": not found on PATH");
}

namespace {

// Runs in the forked child: async-signal-safe calls only. Reports a failure
// as an errno on `report` (close-on-exec, so a successful exec says nothing).
// Coverage cannot see it: the child execs or _exits, and neither writes the
// counters (child_process_test proves it by its effects instead).
// GCOVR_EXCL_START
[[noreturn]] void BecomePipeline(const char* program, char* const argv[], char* const envp[],
                                 const char* cwd, const char* log_path, pid_t parent, int report,
                                 int pass_fd) {
  auto fail = [&report](int stage) {
    const int err[2] = {stage, errno};
    (void)!write(report, err, sizeof err);
    _exit(127);
  };
  setpgid(0, 0);  // its own group: a timeout signals everything it started
  // If the runner dies, so does the pipeline: nobody would report it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the runner died before prctl
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int in = open("/dev/null", O_RDONLY);
  const int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
  if (in < 0 || log < 0) fail(1);
  if (dup2(in, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) fail(1);
  if (cwd[0] != '\0' && chdir(cwd) != 0) fail(2);
  int first_closed = 3;
  if (pass_fd >= 0) {
    // Descriptor 3 is the passed one; the report pipe moves above it.
    if (report <= 3) {
      report = fcntl(report, F_DUPFD_CLOEXEC, 4);
      if (report < 0) _exit(127);
    }
    if (pass_fd == 3) {
      if (fcntl(3, F_SETFD, 0) != 0) fail(1);
    } else if (dup2(pass_fd, 3) < 0) {
      fail(1);
    }
    first_closed = 4;
  }
  // Every descriptor but 0-2 (3 if passed) and the report pipe (closed by exec).
  if (report > first_closed) syscall(SYS_close_range, first_closed, report - 1, 0);
  syscall(SYS_close_range, report + 1, ~0U, 0);
  execve(program, argv, envp);
  fail(3);
  _exit(127);  // not reached: fail() exits
}
// GCOVR_EXCL_STOP

}  // namespace

common::Result<ChildProcess> ChildProcess::Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Status::Error(Code::kInvalid, "empty pipeline command");
  auto program = ResolveProgram(spec.argv[0], spec.env);
  if (!program.ok()) return program.status();
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return Status::Error(Code::kIoError, std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return Status::Error(Code::kIoError, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(report[0]);
    BecomePipeline(program.value().c_str(), argv.data(), envp.data(), spec.cwd.c_str(),
                   spec.log_path.c_str(), parent, report[1], spec.pass_fd);
  }
  close(report[1]);
  // Also set the group from here, so a signal sent right after we return
  // reaches the group even if the child has not run yet.
  setpgid(pid, pid);
  int err[2] = {0, 0};
  ssize_t n;
  while ((n = read(report[0], err, sizeof err)) < 0 && errno == EINTR) {
  }
  close(report[0]);
  ChildProcess child(pid);
  if (n == sizeof err) {
    child.SignalGroup(SIGKILL);  // the destructor reaps it
    const std::string what = err[0] == 1   ? "open " + spec.log_path
                             : err[0] == 2 ? "enter " + spec.cwd
                                           : "exec " + program.value();
    return Status::Error(Code::kIoError, "cannot start " + spec.argv[0] + ": " + what + ": " +
                                             std::strerror(err[1]));
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), reaped_(other.reaped_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    End();  // the child we held is ours to kill and reap, not to leak
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { End(); }

void ChildProcess::End() noexcept {
  if (pid_ <= 0) return;
  SignalGroup(SIGKILL);
  if (!reaped_) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

void ChildProcess::SignalGroup(int signal) const {
  if (pid_ > 0) kill(-pid_, signal);
}

}  // namespace runner
