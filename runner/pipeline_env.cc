#include "runner/pipeline_env.h"

#include <algorithm>
#include <string_view>

#include "common/team.h"

namespace runner {

namespace {

bool Allowed(std::string_view name, const std::vector<std::string>& pass_env) {
  if (name == "PATH" || name == "LANG" || name == "LANGUAGE" || name == "TZ") return true;
  if (name.starts_with("LC_")) return true;
  return std::find(pass_env.begin(), pass_env.end(), name) != pass_env.end();
}

}  // namespace

std::vector<std::string> PipelineEnvironment(const schemas::BrokerMessage& dispatch,
                                             const Workspace& workspace,
                                             const std::string& runner_id,
                                             const char* const* inherited,
                                             const std::string& deployment,
                                             const std::vector<std::string>& pass_env) {
  std::vector<std::string> env;
  for (const char* const* e = inherited; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (name.starts_with("DAYBREAK_") || !Allowed(name, pass_env)) continue;
    if (dispatch.env.count(std::string(name)) > 0) continue;  // the team's wins
    env.emplace_back(entry);
  }
  for (const auto& [name, value] : dispatch.env) {
    if (common::IsPipelineVariableName(name)) {
      env.push_back(name + "=" + value);
    }
  }
  env.push_back("TMPDIR=" + workspace.staging_tmp());
  env.push_back("HOME=" + workspace.staging_tmp());
  const std::string team =
      dispatch.team == common::kGeneralTeam ? "" : std::to_string(dispatch.team);
  env.push_back("DAYBREAK_RUN_ID=" + dispatch.run_id);
  env.push_back("DAYBREAK_TEAM=" + team);
  env.push_back("DAYBREAK_PDATE=" + dispatch.pdate);
  // The run's own date and zone: a backfill, or a team a day ahead of this
  // host, must pick that date's inputs, not the host's today.
  if (!dispatch.local_date.empty()) env.push_back("DAYBREAK_LOCAL_DATE=" + dispatch.local_date);
  if (!dispatch.zone.empty()) env.push_back("DAYBREAK_LOCAL_ZONE=" + dispatch.zone);
  env.push_back("DAYBREAK_ATTEMPT=" + std::to_string(dispatch.attempt));
  env.push_back("DAYBREAK_INPUT_DIR=" + workspace.dirs().input);
  env.push_back("DAYBREAK_OUTPUT_DIR=" + workspace.staging_output());
  env.push_back("DAYBREAK_SHARE_DIR=" + workspace.staging_share());
  env.push_back("DAYBREAK_RESULT_FILE=" + workspace.result_file());
  env.push_back("DAYBREAK_RUNNER_ID=" + runner_id);
  env.push_back("DAYBREAK_DEPLOYMENT=" + deployment);
  return env;
}

}  // namespace runner
