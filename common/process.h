// What every daemon's main does the same way: stop on SIGTERM/SIGINT, and
// load the configuration from --config and the environment.
#pragma once

#include <atomic>
#include <string>

#include "common/config.h"

namespace common {

// Sets the returned flag on SIGTERM or SIGINT (also interrupting zmq::poll).
const std::atomic<bool>& InstallStopSignals();

// LoadConfig with the process environment.
Result<Config> LoadProcessConfig(const std::string& path);

}  // namespace common
