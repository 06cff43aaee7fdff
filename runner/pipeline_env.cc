#include "runner/pipeline_env.h"

#include <string_view>

#include "common/team.h"

namespace runner {

std::vector<std::string> PipelineEnvironment(const schemas::BrokerMessage& dispatch,
                                             const Workspace& workspace,
                                             const std::string& runner_id,
                                             const char* const* inherited,
                                             const std::string& deployment) {
  std::vector<std::string> env;
  for (const char* const* e = inherited; e != nullptr && *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("DAYBREAK_")) continue;  // ours only
    env.emplace_back(*e);
  }
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
