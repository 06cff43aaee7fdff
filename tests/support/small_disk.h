// SmallDisk: a small tmpfs mounted on a fresh folder, so a test can fill a
// filesystem for real (ENOSPC from the kernel, not a fault switch) and free
// it again. Mounting needs root (CAP_SYS_ADMIN); without it mounted() is
// false and the test says it was skipped.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "tests/support/temp_dir.h"

namespace testing {

class SmallDisk {
 public:
  explicit SmallDisk(std::uint64_t megabytes) : root_(dir_.Sub("disk")) {
    std::filesystem::create_directories(root_);
    const std::string options = "size=" + std::to_string(megabytes) + "m";
    if (mount("tmpfs", root_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_not_ = std::string("cannot mount a tmpfs (") + std::strerror(errno) + "): run as root";
    }
  }
  ~SmallDisk() {
    if (mounted_) umount2(root_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  std::string Sub(const std::string& name) const { return root_ + "/" + name; }

  std::uint64_t FreeBytes() const {
    struct statvfs st {};
    if (statvfs(root_.c_str(), &st) != 0) throw std::runtime_error("statvfs " + root_);
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }
  // Fills the disk with a ballast file until `leave` bytes are free (or
  // fewer: tmpfs counts in pages).
  void FillLeaving(std::uint64_t leave) {
    const std::uint64_t free = FreeBytes();
    if (free <= leave) return;
    const std::string path = Sub("ballast-" + std::to_string(++ballasts_));
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    const int rc = posix_fallocate(fd, 0, static_cast<off_t>(free - leave));
    close(fd);
    if (rc != 0) throw std::runtime_error("cannot fill " + path + ": " + std::strerror(rc));
  }
  // Removes every ballast file.
  void Free() {
    for (; ballasts_ > 0; --ballasts_) std::filesystem::remove(Sub("ballast-" + std::to_string(ballasts_)));
  }

 private:
  TempDir dir_;
  std::string root_;
  bool mounted_ = false;
  std::string why_not_;
  int ballasts_ = 0;
};

}  // namespace testing
