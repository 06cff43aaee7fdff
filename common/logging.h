// Logging setup shared by every process: one format, level from config.
#pragma once

#include <string>

#include "common/status.h"

namespace common {

// Installs a stderr logger named after the process, at `level`
// ("trace".."off"). Returns an error naming an unknown level.
Status SetupLogging(const std::string& process, const std::string& level);

}  // namespace common
