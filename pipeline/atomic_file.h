// A file written under a temporary name in its final directory and renamed
// into place on Commit(), so readers see the old file or the whole new one,
// never half of it. Dropping it uncommitted removes the temporary.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pipeline/status.h"

namespace pipeline {

class AtomicFile {
 public:
  // Creates `.<name>.tmp-<pid>` next to `path`. With `sync`, Commit() fsyncs
  // the data and the directory so the rename survives a crash.
  static Result<std::unique_ptr<AtomicFile>> Create(const std::string& path,
                                                    bool sync = true);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void Append(std::string_view text) {
    buffer_.append(text);
    if (buffer_.size() >= kFlushAt) Flush();
  }
  // Room to format into directly: returns a pointer to `n` writable bytes;
  // call Release(end of what was written) before the next Append/Reserve.
  char* Reserve(size_t n) {
    used_ = buffer_.size();
    buffer_.resize(used_ + n);
    return buffer_.data() + used_;
  }
  void Release(char* end) {
    buffer_.resize(static_cast<size_t>(end - buffer_.data()));
    if (buffer_.size() >= kFlushAt) Flush();
  }

  // Writes out the rest, renames over `path`. Reports the first I/O error.
  Status Commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  AtomicFile(std::string path, std::string temp_path, int fd, bool sync);
  void Flush();

  std::string path_;
  std::string temp_path_;
  int fd_;
  bool sync_;
  bool committed_ = false;
  std::string buffer_;
  size_t used_ = 0;
  std::string error_;  // first write error
};

// Writes `text` to `path` atomically in one go.
Status WriteFileAtomically(const std::string& path, std::string_view text,
                           bool sync = true);

}  // namespace pipeline
