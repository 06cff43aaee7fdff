#include "broker/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace broker {

AuditLog::~AuditLog() {
  Sync();
  if (fd_ >= 0) close(fd_);
}

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
  if (fd_ < 0) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  }
  // One write per line (O_APPEND): lines never interleave or tear.
  if (fd_ >= 0 && write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size())) {
    dirty_ = true;
    return common::Status();
  }
  const int err = errno;
  spdlog::error("audit log {} not written ({}): {}", path_, std::strerror(err), text);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;  // opened again for the next line
  return common::Status::Error(common::Code::kIoError,
                               "audit log " + path_ + ": " + std::strerror(err));
}

void AuditLog::Sync() {
  if (fd_ < 0 || !dirty_) return;
  if (fdatasync(fd_) != 0) spdlog::error("audit log {}: fdatasync: {}", path_, std::strerror(errno));
  dirty_ = false;
}

}  // namespace broker
