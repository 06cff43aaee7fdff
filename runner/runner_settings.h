// The runner's settings from its flags and the configuration: a flag wins,
// then the configuration, then a default (id <hostname>-<pid>, the
// reference pipeline installed beside this binary, else on PATH).
#pragma once

#include <string>

#include "common/config.h"
#include "runner/runner.h"

namespace runner {

// What daybreak-runner's command line may set; empty or 0: not given.
struct RunnerFlags {
  std::string runner_id;
  int slots = 0;
  bool noop = false;
};

// Directories are made absolute against the current directory.
RunnerSettings SettingsFrom(const common::Config& config, const RunnerFlags& flags);

}  // namespace runner
