#include "broker/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace broker {

common::Status AuditLog::Record(const AuditEntry& e) {
  nlohmann::json line = {{"at_unix_ms", e.at_unix_ms}, {"who", e.who}, {"op", e.op},
                         {"ok", e.ok}};
  if (e.team >= 0) line["team"] = e.team;
  if (!e.run_id.empty()) line["run_id"] = e.run_id;
  if (!e.detail.empty()) line["detail"] = e.detail;
  if (!e.error.empty()) line["error"] = e.error;
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (path_.empty()) return common::Status();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  bool written = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = written && fdatasync(fd) == 0;
  const int err = errno;
  if (fd >= 0) close(fd);
  if (written) return common::Status();
  spdlog::error("audit log {} not written ({}): {}", path_, std::strerror(err), text);
  return common::Status::Error(common::Code::kIoError,
                               "audit log " + path_ + ": " + std::strerror(err));
}

}  // namespace broker
