// CursorFile: the last event sequence the notifier delivered, kept on disk
// crash-safely (write a temp file, fsync, rename), so a restart replays
// exactly what it had not delivered yet.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace notifier {

class CursorFile {
 public:
  explicit CursorFile(std::string path) : path_(std::move(path)) {}

  // 0 when the file does not exist yet; an error when it is unreadable.
  common::Result<std::uint64_t> Load() const;
  bool Exists() const;
  common::Status Store(std::uint64_t seq) const;

 private:
  std::string path_;
};

}  // namespace notifier
