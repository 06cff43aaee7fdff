// Encoding and bounded, validating decoding of every message. Decoders never
// throw: bad bytes come back as a Status whose message says what was wrong.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "schemas/messages.h"

namespace schemas {

template <typename T>
std::string Encode(const T& message) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, message);
  return std::string(buffer.data(), buffer.size());
}

// Each decoder checks: one complete msgpack map and nothing after it, sizes
// within limits, `v` present and not newer than ours, required keys present,
// field types and values valid (see PROTOCOL.md).
common::Result<DueEvent> DecodeDueEvent(std::string_view bytes);
common::Result<DueAck> DecodeDueAck(std::string_view bytes);
common::Result<RunEvent> DecodeRunEvent(std::string_view bytes);
common::Result<AlertEvent> DecodeAlertEvent(std::string_view bytes);
common::Result<ScheduleChanged> DecodeScheduleChanged(std::string_view bytes);
common::Result<RunnerMessage> DecodeRunnerMessage(std::string_view bytes);
// What a runner message that DecodeRunnerMessage refused still says about
// itself (read with wide limits: a map too big to decode, a bad field), so
// the broker can answer a refused result instead of leaving the runner to
// resend it. Every field is empty unless it was a well-formed str or uint.
struct RunnerMessageHeader {
  std::string type;
  std::string runner_id;
  std::string run_id;
  std::uint32_t attempt = 0;
  std::string token;
};
common::Result<RunnerMessageHeader> PeekRunnerMessage(std::string_view bytes);
common::Result<BrokerMessage> DecodeBrokerMessage(std::string_view bytes);
common::Result<ControlRequest> DecodeControlRequest(std::string_view bytes);
common::Result<ControlReply> DecodeControlReply(std::string_view bytes);
common::Result<RunRecord> DecodeRunRecord(std::string_view bytes);
common::Result<TeamRecord> DecodeTeamRecord(std::string_view bytes);
common::Result<TeamStatus> DecodeTeamStatus(std::string_view bytes);
common::Result<LoggedEvent> DecodeLoggedEvent(std::string_view bytes);

// Checks a run key: 1-200 printable ASCII characters.
common::Status ValidateRunKey(std::string_view key);

// Checks a team's settings as a user would give them (run time, zone,
// overlap, id); names the bad value.
common::Status ValidateTeamRecord(const TeamRecord& team);

}  // namespace schemas
