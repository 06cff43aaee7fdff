// Helpers for the tests that start real processes: wait for a condition
// with a deadline, and tell whether a process (not necessarily our child)
// is gone.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace testing {

// Checks `done` until it holds or `patience` has passed; true if it held.
// The pause between checks only spaces them out: the deadline decides.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds patience = std::chrono::milliseconds(5000)) {
  const auto give_up = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Dead: no longer in /proc, or a zombie nobody has reaped yet (an orphan's
// parent may be a PID 1 that never reaps).
inline bool IsGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// The pid a test pipeline wrote to `path` ("sleep 60 & echo $! > path"),
// once it is there.
inline std::optional<pid_t> WaitForPidFile(const std::string& path) {
  pid_t pid = 0;
  const bool ok = WaitUntil([&] {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line) || in.eof()) return false;  // not the whole line yet
    pid = static_cast<pid_t>(std::stol(line));
    return pid > 0;
  });
  if (!ok) return std::nullopt;
  return pid;
}

}  // namespace testing
