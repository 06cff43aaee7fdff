// The runner's side of log.read (PROTOCOL.md, "Logs through the broker"):
// where an attempt's log is, and a piece of it for the broker to pass on to
// `daybreak logs` on another host.
#pragma once

#include <cstdint>
#include <string>

#include "schemas/messages.h"

namespace runner {

// The most a log.chunk carries: well inside a work frame's bin limit.
inline constexpr std::uint32_t kMaxLogChunkBytes = 32 * 1024;

// `<log_dir>/<run_id>.<attempt>.log`: every attempt's own file.
std::string LogPathFor(const std::string& log_dir, const std::string& run_id,
                       std::uint32_t attempt);

// The log.chunk answering `read` (its token, run and attempt), with up to
// log_limit (at most kMaxLogChunkBytes) bytes from log_offset, or `error`
// when the log cannot be read. The path is made here from the run id, which
// must look like one: a broker cannot ask for any other file.
schemas::RunnerMessage ReadLogChunk(const std::string& log_dir, const schemas::BrokerMessage& read);

}  // namespace runner
