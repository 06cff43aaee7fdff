// The broker's settings from the configuration: the run manager's Settings
// and the defaults of a team that leaves a field unset.
#pragma once

#include "broker/run_manager.h"
#include "broker/team_registry.h"
#include "common/config.h"

namespace broker {

// REQUIRES: `config` came from LoadConfig (its values are validated there).
Settings SettingsFrom(const common::Config& config);
TeamDefaults TeamDefaultsFrom(const common::Config& config);

}  // namespace broker
