#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/text.h"

namespace common {
namespace {

// %* in the pattern: the message, with control characters escaped.
class PrintableMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string text = Printable(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PrintableMessage>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> LogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<PrintableMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n %^%l%$ %*");
  return formatter;
}

namespace {

Result<spdlog::level::level_enum> ParseLevel(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off"; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::Error(Code::kInvalid,
                         "log level \"" + level +
                             "\" is not one of trace, debug, info, warn, "
                             "error, critical, off");
  }
  return parsed;
}

}  // namespace

Status SetLogLevel(const std::string& level) {
  auto parsed = ParseLevel(level);
  if (!parsed.ok()) return parsed.status();
  spdlog::default_logger()->set_level(parsed.value());
  return Status();
}

Status ValidLogLevel(const std::string& level) { return ParseLevel(level).status(); }

Status SetupLogging(const std::string& process, const std::string& level) {
  auto level_or = ParseLevel(level);
  if (!level_or.ok()) return level_or.status();
  const spdlog::level::level_enum parsed = level_or.value();
  auto logger = spdlog::stderr_color_mt(process);
  logger->set_formatter(LogFormatter());
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  // Warnings reach the file at once; the rest within a second, so a busy
  // broker does not pay a write() per log line.
  spdlog::flush_on(spdlog::level::warn);
  spdlog::flush_every(std::chrono::seconds(1));
  return Status();
}

}  // namespace common
