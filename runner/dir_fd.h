// Folders opened by file descriptor, one component at a time and never
// through a symlink: how the runner walks a team's tree, which the team's
// own pipeline can rearrange (see Workspace).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace runner {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Opens `path` as a folder, following links (for roots the operator
// configured). Creates it and its parents first when `create`.
common::Result<UniqueFd> OpenDir(const std::string& path, bool create);

// Opens the folder `name` (one component, no '/') inside `parent`, with
// O_NOFOLLOW|O_DIRECTORY, making it first when `create`. `path` names it in
// errors. A symlink is refused as kInvalid ("... is a symlink"); any other
// failure is kIoError, "cannot create <path>: ..." when creating, otherwise
// "<verb> <path>: ...".
common::Result<UniqueFd> OpenDirAt(int parent, const std::string& name, const std::string& path,
                                   bool create, const char* verb = "cannot open");

// The names in the folder `dir` (not "." or ".."), unsorted.
common::Result<std::vector<std::string>> ListDir(int dir, const std::string& path);

// Removes `name` inside `parent` and, if it is a real folder, everything in
// it, never following a link (a link is removed, not its target). A missing
// `name` is not an error.
common::Status RemoveTreeAt(int parent, const std::string& name, const std::string& path);

// True when `name` is one path component: not empty, ".", ".." or with '/'.
bool IsSingleComponent(const std::string& name);

}  // namespace runner
