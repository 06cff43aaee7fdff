#include "notifier/cursor_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace notifier {

using common::Code;
using common::Status;

bool CursorFile::Exists() const { return std::ifstream(path_).good(); }

common::Result<std::uint64_t> CursorFile::Load() const {
  std::ifstream in(path_);
  if (!in) return std::uint64_t{0};
  std::string text;
  std::getline(in, text);
  std::uint64_t seq = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
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
  if (!written || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::Error(Code::kIoError, "cannot store cursor in " + path_ + ": " + std::strerror(errno));
  }
  return Status();
}

}  // namespace notifier
