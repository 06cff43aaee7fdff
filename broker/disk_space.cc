#include "broker/disk_space.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace broker {

common::Result<std::uint64_t> FreeBytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return common::Status::Error(common::Code::kIoError,
                                 "cannot measure free space on " + path + ": " + std::strerror(errno));
  }
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

common::Status CheckSpace(const std::string& path, std::uint64_t reserve_bytes) {
  if (reserve_bytes == 0) return common::Status();
  auto free = FreeBytes(path);
  if (!free.ok() || free.value() >= reserve_bytes) return common::Status();
  return common::Status::Error(
      common::Code::kNoSpace,
      fmt::format("no space for the run store in {}: {:.1f} MiB free, the broker keeps {:.1f} MiB "
                  "in reserve (broker.min_free_mb); it takes no new work until space returns",
                  path, static_cast<double>(free.value()) / (1 << 20),
                  static_cast<double>(reserve_bytes) / (1 << 20)));
}

}  // namespace broker
