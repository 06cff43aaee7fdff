// Logging setup shared by every process: one format, level from config.
#pragma once

#include <memory>
#include <string>

#include <spdlog/formatter.h>

#include "common/status.h"

namespace common {

// Installs a stderr logger named after the process, at `level`
// ("trace".."off"). Returns an error naming an unknown level.
// The one log line format. The message is escaped (common::Printable): a
// value from a peer with a newline in it cannot write a line of its own.
std::unique_ptr<spdlog::formatter> LogFormatter();

Status SetupLogging(const std::string& process, const std::string& level);
// Changes the running logger's level (a reload); an error names a bad one.
Status SetLogLevel(const std::string& level);
// Whether `level` is one SetLogLevel takes (an error names it and the choices).
Status ValidLogLevel(const std::string& level);

}  // namespace common
