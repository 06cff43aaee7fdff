// JSON views of wire messages, for --json output, watch scripts and webhooks.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "common/status.h"
#include "schemas/messages.h"

namespace schemas {

nlohmann::json ToJson(const RunRecord& run);
nlohmann::json ToJson(const RunEvent& event);
nlohmann::json ToJson(const AlertEvent& alert);
nlohmann::json ToJson(const TeamRecord& team);
nlohmann::json ToJson(const RunnerSummary& runner);
nlohmann::json ToJson(const DeadLetter& letter);

// Decodes a bus frame by its topic ("run.*", "alert.*", "due", ...) into JSON
// with a "topic" field added.
common::Result<nlohmann::json> BusFrameToJson(std::string_view topic, std::string_view payload);

}  // namespace schemas
