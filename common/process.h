// What every daemon's main does the same way: stop on SIGTERM/SIGINT, and
// load the configuration from --config and the environment.
#pragma once

#include <atomic>
#include <string>

#include "common/config.h"

namespace common {

// Sets the returned flag on SIGTERM or SIGINT (also interrupting zmq::poll).
const std::atomic<bool>& InstallStopSignals();

// The file a process reads with no --config: $DAYBREAK_CONFIG, else the
// packaged /etc/daybreak/daybreak.toml when it exists, else none (embedded
// defaults and the environment).
inline constexpr char kSystemConfig[] = "/etc/daybreak/daybreak.toml";
std::string DefaultConfigPath();

// LoadConfig of `path` (empty: DefaultConfigPath()) with the process environment.
Result<Config> LoadProcessConfig(const std::string& path);

}  // namespace common
