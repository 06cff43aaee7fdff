#include "runner/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace runner::cgroup {

using common::Code;
using common::Status;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool WriteText(const std::string& path, std::string_view text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// Polls `done` until it holds or `patience` has passed. Only for the
// runner's start-up sweep and a run's teardown, where the kernel needs a
// moment to finish killing.
template <typename Done>
bool Await(Done done, std::chrono::milliseconds patience) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool Empty(const std::string& dir) {
  // cgroup.events says "populated 0" once no process (descendants
  // included) is left; where it cannot be read, cgroup.procs decides.
  std::istringstream events(ReadAll(dir + "/cgroup.events"));
  for (std::string key, value; events >> key >> value;) {
    if (key == "populated") return value == "0";
  }
  return Pids(dir).empty();
}

}  // namespace

std::optional<std::string> FindRoot(std::string_view mountinfo) {
  // "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <fstype> ..."
  std::istringstream lines{std::string(mountinfo)};
  for (std::string line; std::getline(lines, line);) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, dev, root, mount_point;
    if (before >> id >> parent >> dev >> root >> mount_point) return mount_point;
  }
  return std::nullopt;
}

std::optional<std::string> OwnPath(std::string_view proc_cgroup) {
  std::istringstream lines{std::string(proc_cgroup)};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return std::nullopt;
}

std::string Component(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 48)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    out += keep ? c : '_';
  }
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", hash);
  return out + "-" + hex;
}

common::Result<std::string> PrepareRunnerDir(const std::string& deployment,
                                             const std::string& runner_id) {
  const auto root = FindRoot(ReadAll("/proc/self/mountinfo"));
  if (!root) return Status::Error(Code::kNotFound, "no cgroup2 filesystem mounted");
  const auto own = OwnPath(ReadAll("/proc/self/cgroup"));
  if (!own) return Status::Error(Code::kNotFound, "no cgroup v2 line in /proc/self/cgroup");
  std::string base = *root + (*own == "/" ? "" : *own);
  const std::string deployment_dir = base + "/daybreak-" + Component(deployment);
  const std::string dir = deployment_dir + "/" + Component(runner_id);
  for (const std::string& d : {deployment_dir, dir}) {
    if (Status s = Create(d); !s.ok()) return s;
  }
  if (access((dir + "/cgroup.procs").c_str(), W_OK) != 0) {
    return Status::Error(Code::kIoError, dir + "/cgroup.procs is not writable");
  }
  return dir;
}

Status Create(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::Error(Code::kIoError, "cannot create cgroup " + dir + ": " + std::strerror(errno));
  }
  return Status();
}

bool EnterSafe(const char* procs_file, pid_t pid) {
  const int fd = open(procs_file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // Decimal by hand: no snprintf between fork and exec.
  char digits[16];
  int n = 0;
  unsigned value = static_cast<unsigned>(pid);
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && n < 15);
  char text[16];
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  const bool ok = write(fd, text, n) == n;
  close(fd);
  return ok;
}

std::vector<pid_t> Pids(const std::string& dir) {
  std::vector<pid_t> pids;
  std::istringstream in(ReadAll(dir + "/cgroup.procs"));
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

void Signal(const std::string& dir, int signal) {
  for (pid_t pid : Pids(dir)) kill(pid, signal);
}

bool Kill(const std::string& dir, std::chrono::milliseconds patience) {
  if (access(dir.c_str(), F_OK) != 0) return true;
  // cgroup.kill freezes out forks while it kills; signalling pid by pid
  // races a fork loop, so it repeats until nothing is left.
  const bool has_kill = WriteText(dir + "/cgroup.kill", "1");
  return Await(
      [&] {
        if (!has_kill) Signal(dir, SIGKILL);
        return Empty(dir);
      },
      patience);
}

bool SetMemoryMax(const std::string& dir, std::uint64_t bytes) {
  const std::string file = dir + "/memory.max";
  if (access(file.c_str(), W_OK) != 0) return false;
  return WriteText(file, std::to_string(bytes));
}

bool SetCpuMax(const std::string& dir, double cores) {
  const std::string file = dir + "/cpu.max";
  if (cores <= 0 || access(file.c_str(), W_OK) != 0) return false;
  constexpr long kPeriodUs = 100'000;
  // The kernel takes no quota under 1 ms.
  const long quota = std::max(1000L, static_cast<long>(cores * kPeriodUs));
  return WriteText(file, std::to_string(quota) + " " + std::to_string(kPeriodUs));
}

long OomKills(const std::string& dir) {
  const std::string events = ReadAll(dir + "/memory.events");
  const std::size_t at = events.find("oom_kill ");
  return at == std::string::npos ? 0 : std::strtol(events.c_str() + at + 9, nullptr, 10);
}

bool Remove(const std::string& dir, std::chrono::milliseconds patience) {
  if (access(dir.c_str(), F_OK) != 0) return true;
  Kill(dir, patience);
  return Await([&] { return rmdir(dir.c_str()) == 0 || errno == ENOENT; }, patience);
}

int SweepChildren(const std::string& runner_dir, std::chrono::milliseconds patience) {
  std::vector<std::string> children;
  if (DIR* d = opendir(runner_dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name == "." || name == ".." || entry->d_type != DT_DIR) continue;
      children.push_back(runner_dir + "/" + name);
    }
    closedir(d);
  }
  for (const std::string& child : children) Remove(child, patience);
  return static_cast<int>(children.size());
}

}  // namespace runner::cgroup
