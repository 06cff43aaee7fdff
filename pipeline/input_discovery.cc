#include "pipeline/input_discovery.h"

#include <algorithm>
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
    if (it->is_symlink(type_ec)) {
      // A link may name another file of the folder; one that leads out of
      // it (to another team's tape, to /etc) is refused, loudly, instead of
      // being read or skipped.
      std::error_code link_ec;
      const fs::path target = fs::weakly_canonical(it->path(), link_ec);
      const fs::path root = fs::weakly_canonical(dir, link_ec);
      const auto [end, _] = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
      if (link_ec || end != root.end()) {
        return Status::Error(Code::kInvalidInput,
                             "input " + name + " is a link to " + target.string() +
                                 ", outside the input folder " + dir +
                                 ": refused (a team reads only its own inputs)");
      }
    }
    if (!it->is_regular_file(type_ec)) continue;  // follows links within the folder
    if (!best || *date > best->date)
      best = DatedFile{it->path().string(), *date};
  }
  return best;
}

}  // namespace pipeline
