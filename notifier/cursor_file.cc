#include "notifier/cursor_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace notifier {

using common::Code;
using common::Status;

bool CursorFile::Exists() const {
  struct stat st {};
  return stat(path_.c_str(), &st) == 0;
}

std::uint64_t Rebase(const CursorPosition& position, const StoreIdentity& store) {
  if (position.incarnation.empty() || store.incarnation.empty() ||
      position.incarnation == store.incarnation) {
    return position.seq;
  }
  return std::min(position.seq, store.from);
}

common::Result<CursorPosition> CursorFile::Load() const {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return CursorPosition{};
    return Status::Error(Code::kIoError, "cannot read cursor file " + path_ + ": " + std::strerror(errno));
  }
  char buffer[128];
  const ssize_t n = read(fd, buffer, sizeof buffer);
  const int read_errno = errno;
  close(fd);
  if (n < 0) {
    return Status::Error(Code::kIoError, "cannot read cursor file " + path_ + ": " + std::strerror(read_errno));
  }
  std::string text(buffer, static_cast<std::size_t>(n));
  if (!text.empty() && text.back() == '\n') text.pop_back();  // written by hand, perhaps
  CursorPosition position;
  std::string_view number = text;
  if (const std::size_t colon = text.rfind(':'); colon != std::string::npos) {
    position.incarnation = text.substr(0, colon);
    number = std::string_view(text).substr(colon + 1);
  }
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), position.seq);
  const bool named_ok = std::all_of(position.incarnation.begin(), position.incarnation.end(),
                                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() ||
      (text.find(':') != std::string::npos && position.incarnation.empty()) || !named_ok) {
    return Status::Error(Code::kCorrupt, "cursor file " + path_ + " holds \"" + text +
                                             "\", not [<incarnation>:]<sequence number>");
  }
  return position;
}

Status CursorFile::Store(const CursorPosition& position) const {
  const std::string tmp = path_ + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(Code::kIoError, "cannot write " + tmp + ": " + std::strerror(errno));
  const std::string text = position.incarnation.empty()
                               ? std::to_string(position.seq)
                               : position.incarnation + ":" + std::to_string(position.seq);
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
