#include "pipeline/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace pipeline {
namespace {

// fmt rather than std::string operator+, which trips GCC 12's -Wrestrict.
std::string Errno(std::string_view what, std::string_view path) {
  return fmt::format("{} {}: {}", what, path, std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path,
                                                       bool sync) {
  const std::filesystem::path p(path);
  // Built with append: GCC 12 misreports "." + std::string (-Wrestrict).
  std::string name = ".";
  name.append(p.filename().string());
  name.append(".tmp-");
  name.append(std::to_string(::getpid()));
  const std::string temp = (p.parent_path() / name).string();
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::Error(Code::kIoError, Errno("cannot create", temp));
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, temp, fd, sync));
}

AtomicFile::AtomicFile(std::string path, std::string temp_path, int fd,
                       bool sync)
    : path_(std::move(path)),
      temp_path_(std::move(temp_path)),
      fd_(fd),
      sync_(sync) {
  buffer_.reserve(kFlushAt + 4096);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::Flush() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0 && error_.empty()) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = Errno("cannot write", temp_path_);
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

Status AtomicFile::Commit() {
  Flush();
  if (error_.empty() && sync_ && ::fsync(fd_) != 0) {
    error_ = Errno("cannot sync", temp_path_);
  }
  if (::close(fd_) != 0 && error_.empty()) {
    error_ = Errno("cannot close", temp_path_);
  }
  fd_ = -1;
  if (error_.empty() && std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    error_ = Errno("cannot rename", temp_path_ + " to " + path_);
  }
  if (!error_.empty()) return Status::Error(Code::kIoError, error_);
  committed_ = true;
  if (sync_) {
    // Persist the directory entry too.
    const std::string parent =
        std::filesystem::path(path_).parent_path().string();
    const std::string dir = parent.empty() ? std::string(1, '.') : parent;
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return Status();
}

Status WriteFileAtomically(const std::string& path, std::string_view text,
                           bool sync) {
  auto file = AtomicFile::Create(path, sync);
  if (!file.ok()) return file.status();
  file.value()->Append(text);
  return file.value()->Commit();
}

}  // namespace pipeline
