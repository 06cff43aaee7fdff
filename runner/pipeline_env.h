// The environment a pipeline starts with: the runner's own, minus any
// DAYBREAK_ variable it happened to inherit, plus the pipeline contract's
// variables for this attempt (docs/design.md, "Pipeline contract").
#pragma once

#include <string>
#include <vector>

#include "runner/workspace.h"
#include "schemas/messages.h"

namespace runner {

// `inherited` is a null-terminated "NAME=value" array such as `environ`.
// DAYBREAK_RUN_ID is also how the runner later recognises the run's
// leftovers in /proc, so a stale one must never pass through.
std::vector<std::string> PipelineEnvironment(const schemas::BrokerMessage& dispatch,
                                             const Workspace& workspace,
                                             const std::string& runner_id,
                                             const char* const* inherited,
                                             const std::string& deployment = "");

}  // namespace runner
