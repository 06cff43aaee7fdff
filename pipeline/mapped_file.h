// A whole file mapped read-only into memory (RAII), so the CSV parser can hand
// out string_views into it instead of copying fields.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/status.h"

namespace pipeline {

class MappedFile {
 public:
  // Maps `path`; an empty file gives an empty view.
  static Result<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // Valid while this object lives.
  std::string_view data() const { return {data_, size_}; }

 private:
  void Reset();

  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pipeline
