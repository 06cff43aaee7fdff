// Team ids and the per-team folder layout: the one place a team id becomes a
// path, so isolation is decided here and nowhere else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace common {

// Team 0 is the general run (no team); real teams are 1..kMaxTeamId.
inline constexpr std::uint32_t kGeneralTeam = 0;
inline constexpr std::uint32_t kMaxTeamId = 999'999'999;

// Parses a user-typed team id: a positive decimal integer, nothing else
// ("1", not "01x", "-1", "../2" or "").
Result<std::uint32_t> ParseTeamId(std::string_view text);

// Rejects ids outside 0..kMaxTeamId (0 only when `allow_general`).
Status ValidateTeamId(std::uint32_t team, bool allow_general);

// "team 7" or "general", for log lines and messages.
std::string TeamLabel(std::uint32_t team);

// The folders a run of `team` may see, under the configured roots:
//   team N:  <inputs>/sales_team_N/files_required,
//            <outputs>/sales_team_N/{output,output_share}
//   general: <inputs>/files_required, <outputs>/{output,output_share}
struct TeamDirs {
  std::string input;
  std::string output;
  std::string share;
  std::string team_root;  // <outputs>/sales_team_N or <outputs>
};
// Whether `name` is a variable a team may give its pipeline:
// [A-Za-z_][A-Za-z0-9_]*, at most 128 characters, not DAYBREAK_* (the
// contract's own) and not TMPDIR or HOME (each attempt's own).
bool IsPipelineVariableName(std::string_view name);

TeamDirs DirsFor(std::uint32_t team, const std::string& input_root,
                 const std::string& output_root);

}  // namespace common
