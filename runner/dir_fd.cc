#include "runner/dir_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace runner {

using common::Code;
using common::Status;

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// Deeper than any pipeline's output, shallow enough for the stack and the
// descriptor table: one fd per level is open while removing.
constexpr int kMaxRemoveDepth = 64;

std::string Errno(int err) { return std::strerror(err); }

Status RemoveTreeAt(int parent, const std::string& name, const std::string& path, int depth) {
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status();
    return Status::Error(Code::kIoError, "cannot remove " + path + ": " + Errno(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    if (depth >= kMaxRemoveDepth) {
      return Status::Error(Code::kIoError, "cannot remove " + path + ": nested too deep");
    }
    auto dir = OpenDirAt(parent, name, path, /*create=*/false, "cannot remove");
    if (!dir.ok()) return dir.status();
    auto names = ListDir(dir.value().get(), path);
    if (!names.ok()) return names.status();
    for (const std::string& entry : names.value()) {
      Status s = RemoveTreeAt(dir.value().get(), entry, path + "/" + entry, depth + 1);
      if (!s.ok()) return s;
    }
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return Status::Error(Code::kIoError, "cannot remove " + path + ": " + Errno(errno));
    }
    return Status();
  }
  if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
    return Status::Error(Code::kIoError, "cannot remove " + path + ": " + Errno(errno));
  }
  return Status();
}

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

bool IsSingleComponent(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

common::Result<UniqueFd> OpenDir(const std::string& path, bool create) {
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::Error(Code::kIoError, "cannot create " + path + ": " + ec.message());
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error(Code::kIoError,
                         std::string(create ? "cannot create" : "cannot open") + " " + path +
                             ": " + Errno(errno));
  }
  return UniqueFd(fd);
}

common::Result<UniqueFd> OpenDirAt(int parent, const std::string& name, const std::string& path,
                                   bool create, const char* verb) {
  if (!IsSingleComponent(name)) {
    return Status::Error(Code::kInvalid, "refusing " + path + ": not a plain folder name");
  }
  int mkdir_errno = 0;
  if (create && ::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) {
    mkdir_errno = errno;
  }
  const int fd = ::openat(parent, name.c_str(), kDirFlags);
  if (fd >= 0) return UniqueFd(fd);
  const int open_errno = errno;
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return Status::Error(Code::kInvalid,
                         "refusing " + path +
                             ": it is a symlink, and the runner never follows links in a "
                             "team's folders");
  }
  return Status::Error(Code::kIoError, std::string(create ? "cannot create" : verb) + " " +
                                           path + ": " +
                                           Errno(mkdir_errno ? mkdir_errno : open_errno));
}

common::Result<std::vector<std::string>> ListDir(int dir, const std::string& path) {
  // fdopendir owns the descriptor it is given: hand it a fresh one.
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Error(Code::kIoError, "cannot list " + path + ": " + Errno(errno));
  DIR* stream = ::fdopendir(fd);
  if (stream == nullptr) {
    const int err = errno;
    ::close(fd);
    return Status::Error(Code::kIoError, "cannot list " + path + ": " + Errno(err));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
    errno = 0;
  }
  const int err = errno;
  ::closedir(stream);
  if (err != 0) return Status::Error(Code::kIoError, "cannot list " + path + ": " + Errno(err));
  return names;
}

Status RemoveTreeAt(int parent, const std::string& name, const std::string& path) {
  return RemoveTreeAt(parent, name, path, 0);
}

}  // namespace runner
