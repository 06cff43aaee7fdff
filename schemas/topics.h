// Bus topic helpers and frame size ceilings. Topic words are in
// vocabulary.h; a subscriber filters by prefix: "run." gets every run event.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "schemas/vocabulary.h"

namespace schemas {

inline std::string RunTopic(std::string_view event) {
  return std::string(topic::kRunPrefix) + std::string(event);
}
inline std::string AlertTopic(std::string_view kind) {
  return std::string(topic::kAlertPrefix) + std::string(kind);
}

// Frame size ceilings, enforced by ZMQ_MAXMSGSIZE and by the codec.
inline constexpr std::size_t kMaxFrameBytes = 256 * 1024;
inline constexpr std::size_t kMaxControlFrameBytes = 64 * 1024 * 1024;

}  // namespace schemas
