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

  // 0 when the file does not exist yet. kCorrupt when it holds anything but
  // a sequence number; kIoError when it exists and cannot be read (a
  // silent 0 there would replay the whole retained log).
  common::Result<std::uint64_t> Load() const;
  bool Exists() const;
  // Replaces the file atomically: a reader, or a crash at any point, sees
  // the old number or the new one, never a mix. `<path>.tmp` is scratch.
  common::Status Store(std::uint64_t seq) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace notifier
