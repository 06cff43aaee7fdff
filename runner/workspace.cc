#include "runner/workspace.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace runner {

namespace fs = std::filesystem;
using common::Code;
using common::Status;

common::Result<Workspace> Workspace::Prepare(const common::TeamDirs& dirs,
                                             const std::string& run_id,
                                             std::uint32_t attempt, const std::string& pdate) {
  Workspace w;
  std::string compact;
  for (char c : pdate) {
    if (c >= '0' && c <= '9') compact += c;
  }
  w.result_name_ = "result_" + (compact.empty() ? run_id : compact) + ".json";
  w.dirs_ = dirs;
  w.staging_ = dirs.team_root + "/.staging/" + run_id + "." + std::to_string(attempt);
  std::error_code ec;
  fs::remove_all(w.staging_, ec);  // a leftover from a crashed runner
  for (const std::string& dir : {dirs.input, dirs.output, dirs.share, w.staging_output(),
                                 w.staging_share()}) {
    fs::create_directories(dir, ec);
    if (ec) return Status::Error(Code::kIoError, "cannot create " + dir + ": " + ec.message());
  }
  return w;
}

Status Workspace::Promote() const {
  std::error_code ec;
  for (const auto& [from, to] : {std::pair{staging_output(), dirs_.output},
                                 std::pair{staging_share(), dirs_.share}}) {
    for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
      const fs::path target = fs::path(to) / entry.path().filename();
      fs::rename(entry.path(), target, ec);
      if (ec) {
        return Status::Error(Code::kIoError, "cannot move " + entry.path().string() + " to " +
                                                 target.string() + ": " + ec.message());
      }
    }
    if (ec) return Status::Error(Code::kIoError, "cannot list " + from + ": " + ec.message());
  }
  Discard();
  return Status();
}

void Workspace::Discard() const {
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

common::Result<RunMetrics> ReadResultFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(Code::kNotFound, "no result file at " + path);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return Status::Error(Code::kCorrupt, "result file " + path + " is not a JSON object");
  }
  RunMetrics m;
  for (const auto& [key, value] : json.items()) {
    if (!value.is_number()) continue;
    m.metrics[key] = value.get<double>();
    if (key == "total_loans") m.total_loans = value.get<std::int64_t>();
    if (key == "exceptions_count") m.exceptions_count = value.get<std::int64_t>();
  }
  return m;
}

}  // namespace runner
