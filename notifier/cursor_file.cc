#include "notifier/cursor_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace notifier {

using common::Code;
using common::Status;

bool CursorFile::Exists() const {
  struct stat st {};
  return stat(path_.c_str(), &st) == 0;
}

common::Result<std::uint64_t> CursorFile::Load() const {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::uint64_t{0};
    return Status::Error(Code::kIoError, "cannot read cursor file " + path_ + ": " + std::strerror(errno));
  }
  char buffer[64];
  const ssize_t n = read(fd, buffer, sizeof buffer);
  const int read_errno = errno;
  close(fd);
  if (n < 0) {
    return Status::Error(Code::kIoError, "cannot read cursor file " + path_ + ": " + std::strerror(read_errno));
  }
  std::string text(buffer, static_cast<std::size_t>(n));
  if (!text.empty() && text.back() == '\n') text.pop_back();  // written by hand, perhaps
  std::uint64_t seq = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Error(Code::kCorrupt, "cursor file " + path_ + " holds \"" + text +
                                             "\", not a sequence number");
  }
  return seq;
}

Status CursorFile::Store(std::uint64_t seq) const {
  const std::string tmp = path_ + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(Code::kIoError, "cannot write " + tmp + ": " + std::strerror(errno));
  const std::string text = std::to_string(seq);
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       fsync(fd) == 0;
  close(fd);
  // rename() is the commit point: until it, the old file stands whole.
  if (!written || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::Error(Code::kIoError, "cannot store cursor in " + path_ + ": " + std::strerror(errno));
  }
  return Status();
}

}  // namespace notifier
