#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace common {

Status SetupLogging(const std::string& process, const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off"; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::Error(Code::kInvalid,
                         "log level \"" + level +
                             "\" is not one of trace, debug, info, warn, "
                             "error, critical, off");
  }
  auto logger = spdlog::stderr_color_mt(process);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n %^%l%$ %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  // Warnings reach the file at once; the rest within a second, so a busy
  // broker does not pay a write() per log line.
  spdlog::flush_on(spdlog::level::warn);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status();
}

}  // namespace common
