#include "runner/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

namespace runner {

using common::Code;
using common::Status;

namespace {

// posix_spawn's attribute and file-action objects, released on every path.
struct SpawnObjects {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnObjects() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnObjects() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

common::Result<ChildProcess> ChildProcess::Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Status::Error(Code::kInvalid, "empty pipeline command");
  SpawnObjects o;
  // Own process group (so a timeout can signal everything it started), and
  // default signal dispositions and mask whatever the runner blocked.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setpgroup(&o.attr, 0);
  posix_spawnattr_setsigdefault(&o.attr, &all);
  posix_spawnattr_setsigmask(&o.attr, &none);
  posix_spawnattr_setflags(&o.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_addopen(&o.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&o.actions, 1, spec.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&o.actions, 1, 2);
  posix_spawn_file_actions_addclosefrom_np(&o.actions, 3);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&o.actions, spec.cwd.c_str());
  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &o.actions, &o.attr, argv.data(), envp.data());
  if (rc != 0) {
    return Status::Error(Code::kIoError,
                         "cannot start " + spec.argv[0] + ": " + std::strerror(rc));
  }
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), reaped_(other.reaped_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    this->~ChildProcess();
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  SignalGroup(SIGKILL);
  if (!reaped_) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void ChildProcess::SignalGroup(int signal) const {
  if (pid_ > 0) kill(-pid_, signal);
}

}  // namespace runner
