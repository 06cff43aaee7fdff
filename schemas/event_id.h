// An event's id for good: "<incarnation>:<seq>", or the bare seq for an
// event logged before stores named their incarnation (PROTOCOL.md).
#pragma once

#include <cstdint>
#include <string>

namespace schemas {

inline std::string EventId(const std::string& incarnation, std::uint64_t seq) {
  return incarnation.empty() ? std::to_string(seq) : incarnation + ":" + std::to_string(seq);
}

}  // namespace schemas
