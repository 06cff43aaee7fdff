// Process scanning through /proc: who is our child, and which run a process
// belongs to (the DAYBREAK_RUN_ID and DAYBREAK_DEPLOYMENT it inherited), so
// leftovers of a run can be found even after they left the run's process
// group, and never confused with another deployment's run of the same id.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace runner {

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';    // from /proc/<pid>/stat; 'Z' is a zombie
  std::string run_id;  // empty when it has no DAYBREAK_RUN_ID
  std::string deployment;  // its DAYBREAK_DEPLOYMENT: which deployment's run
  std::string runner_id;   // its DAYBREAK_RUNNER_ID: which runner started it
  std::string name;        // from /proc/<pid>/stat, e.g. "daybreak-shim"
};

// Calls `visit` for every process we may read. Processes that vanish
// mid-scan are skipped.
void ForEachProcess(const std::function<void(const ProcessInfo&)>& visit);

}  // namespace runner
