#include "pipeline/input_discovery.h"

#include <filesystem>
#include <system_error>

namespace pipeline {

namespace fs = std::filesystem;

Status ValidatePattern(const std::string& pattern) {
  const size_t at = pattern.find(kDatePlaceholder);
  if (at == std::string::npos ||
      pattern.find(kDatePlaceholder, at + 1) != std::string::npos ||
      pattern.find('/') != std::string::npos) {
    return Status::Error(Code::kUsage,
                         "file pattern '" + pattern +
                             "' must contain {date} exactly once and no '/'");
  }
  return Status();
}

Result<std::optional<DatedFile>> FindNewestDated(const std::string& dir,
                                                 const std::string& pattern,
                                                 CivilDate as_of) {
  Status valid = ValidatePattern(pattern);
  if (!valid.ok()) return valid;
  const size_t at = pattern.find(kDatePlaceholder);
  const std::string prefix = pattern.substr(0, at);
  const std::string suffix =
      pattern.substr(at + std::string_view(kDatePlaceholder).size());

  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::Error(Code::kTempFail,
                         "input folder " + dir + " does not exist");
  }
  std::optional<DatedFile> best;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return Status::Error(Code::kIoError,
                         "cannot list " + dir + ": " + ec.message());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return Status::Error(Code::kIoError,
                           "cannot list " + dir + ": " + ec.message());
    }
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + 8 + suffix.size() ||
        name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const auto date = CivilDate::ParseCompact(name.substr(prefix.size(), 8));
    if (!date || *date > as_of) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;  // follows symlinks
    if (!best || *date > best->date)
      best = DatedFile{it->path().string(), *date};
  }
  return best;
}

}  // namespace pipeline
