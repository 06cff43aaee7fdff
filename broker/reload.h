// What a reload (SIGHUP, `daybreak admin reload`) changes in a running
// broker: the keys it admits, the dashboard's tokens, the retry defaults
// and the team defaults that are read when a run is admitted. What the
// start fixed (endpoints, the store, CURVE on or off, the broker's own key
// pair, the default schedule the ticker already follows) waits for the
// next start.
#pragma once

#include <string>

#include "broker/broker.h"
#include "broker/http_api.h"
#include "common/config.h"
#include "common/status.h"

namespace broker {

// Checks `fresh` against `running` (the configuration the broker started
// with) and hands what may change to `broker` and `http`; returns what it
// changed for the log line, or why it changes nothing.
common::Result<std::string> ApplyReload(const common::Config& running, const common::Config& fresh,
                                        Broker& broker, HttpApi& http);

}  // namespace broker
