#include "common/team.h"

#include <charconv>

namespace common {

Result<std::uint32_t> ParseTeamId(std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || text[0] == '0' ||
      value > kMaxTeamId) {
    return Status::Error(Code::kInvalid,
                         "team \"" + std::string(text) +
                             "\" is not a positive integer (1-999999999)");
  }
  return static_cast<std::uint32_t>(value);
}

Status ValidateTeamId(std::uint32_t team, bool allow_general) {
  if (team > kMaxTeamId) {
    return Status::Error(Code::kInvalid,
                         "team " + std::to_string(team) + " is out of range");
  }
  if (team == kGeneralTeam && !allow_general) {
    return Status::Error(Code::kInvalid, "team must be a positive integer");
  }
  return Status();
}

std::string TeamLabel(std::uint32_t team) {
  return team == kGeneralTeam ? "general" : "team " + std::to_string(team);
}

bool IsPipelineVariableName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.starts_with("DAYBREAK_")) return false;
  if (name == "TMPDIR" || name == "HOME" || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

TeamDirs DirsFor(std::uint32_t team, const std::string& input_root,
                 const std::string& output_root) {
  TeamDirs dirs;
  if (team == kGeneralTeam) {
    dirs.input = input_root + "/files_required";
    dirs.team_root = output_root;
  } else {
    const std::string name = "sales_team_" + std::to_string(team);
    dirs.input = input_root + "/" + name + "/files_required";
    dirs.team_root = output_root + "/" + name;
  }
  dirs.output = dirs.team_root + "/output";
  dirs.share = dirs.team_root + "/output_share";
  return dirs;
}

}  // namespace common
