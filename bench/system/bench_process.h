// Process helpers for the benchmarks: the tests' TestProcess (fork/exec, log
// file, SIGKILL and reap in the destructor) and /proc readings.
#pragma once

#include <sys/types.h>

#include <string>

#include "tests/support/test_process.h"

namespace bench {

using BenchProcess = testing::TestProcess;
using testing::FreePort;

// A value from /proc/<pid>/status in KiB ("VmRSS", "VmHWM"); -1 if absent.
long ProcStatusKiB(pid_t pid, const std::string& field);

}  // namespace bench
