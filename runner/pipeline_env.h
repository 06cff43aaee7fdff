// The environment a pipeline starts with: an allow-list of the runner's own
// (PATH, LANG, LANGUAGE, LC_*, TZ and the names runner.pass_env adds), the
// team's own variables, a private TMPDIR and HOME, and the pipeline
// contract's variables for this attempt (docs/design.md, "Pipeline
// contract"). Nothing else of the runner's environment (credentials, the
// runner's config path) reaches a pipeline.
#pragma once

#include <string>
#include <vector>

#include "runner/workspace.h"
#include "schemas/messages.h"

namespace runner {

// `inherited` is a null-terminated "NAME=value" array such as `environ`.
// DAYBREAK_RUN_ID is also how the runner later recognises the run's
// leftovers in /proc, so a stale one must never pass through: no DAYBREAK_
// variable is inherited or taken from the team's.
std::vector<std::string> PipelineEnvironment(const schemas::BrokerMessage& dispatch,
                                             const Workspace& workspace,
                                             const std::string& runner_id,
                                             const char* const* inherited,
                                             const std::string& deployment = "",
                                             const std::vector<std::string>& pass_env = {});

}  // namespace runner
