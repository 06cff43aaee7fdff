// Bus topic names. A subscriber filters by prefix: "run." gets every run event.
#pragma once

#include <string>
#include <string_view>

namespace schemas {

inline constexpr std::string_view kTopicDue = "due";
inline constexpr std::string_view kTopicDueAck = "due.ack";
inline constexpr std::string_view kTopicRunPrefix = "run.";
inline constexpr std::string_view kTopicAlertPrefix = "alert.";
inline constexpr std::string_view kTopicScheduleChanged = "schedule.changed";

inline std::string RunTopic(std::string_view event) {
  return std::string(kTopicRunPrefix) + std::string(event);
}
inline std::string AlertTopic(std::string_view kind) {
  return std::string(kTopicAlertPrefix) + std::string(kind);
}

// Frame size ceilings, enforced by ZMQ_MAXMSGSIZE and by the codec.
inline constexpr std::size_t kMaxFrameBytes = 256 * 1024;
inline constexpr std::size_t kMaxControlFrameBytes = 64 * 1024 * 1024;

}  // namespace schemas
