// TempDir: a fresh directory under the system temp dir, removed (with
// everything in it) when the object goes out of scope.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "daybreak-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  // Leaves the directory in place, for a person to look into.
  void Keep() { keep_ = true; }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // `name` inside the directory, as a string.
  std::string Sub(std::string_view name) const { return (path_ / name).string(); }

  // Writes `contents` to `name` inside the directory and returns its path.
  std::string WriteFile(std::string_view name, std::string_view contents) const {
    const std::string file = Sub(name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) throw std::runtime_error("could not write " + file);
    return file;
  }

  // The whole of `name` inside the directory ("" when it cannot be read).
  std::string ReadFile(std::string_view name) const {
    std::ifstream in(Sub(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace testing
