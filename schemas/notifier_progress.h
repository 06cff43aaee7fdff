// The notifier's report of how far it has delivered, published on the bus
// (topic "notifier.progress") every few seconds, so the broker can export
// how far the notifier lags and each sink's queue on /metrics
// (PROTOCOL.md, "Bus"). Kept apart from messages.h: only the notifier and
// the broker speak it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "common/status.h"

namespace schemas {

inline constexpr std::string_view kNotifierProgressTopic = "notifier.progress";
// How often the notifier reports; the broker counts a report older than
// three of these as the notifier being away.
inline constexpr int kNotifierProgressEveryMs = 5000;

struct SinkProgress {
  std::uint64_t queued = 0;         // waiting to be delivered
  std::uint64_t delivered = 0;      // since the notifier started
  std::uint64_t retries = 0;        // failed attempts that were retried
  std::uint64_t undeliverable = 0;  // given up on
  MSGPACK_DEFINE_MAP(queued, delivered, retries, undeliverable);
};

struct NotifierProgress {
  std::uint32_t v = 1;
  std::string incarnation;         // the store its cursor is in
  std::uint64_t committed_seq = 0; // every sink finished through it
  std::map<std::string, SinkProgress> sinks;
  MSGPACK_DEFINE_MAP(v, incarnation, committed_seq, sinks);
};

// One complete map, at most 256 sinks with UTF-8 names of at most 200 bytes.
common::Result<NotifierProgress> DecodeNotifierProgress(std::string_view bytes);

}  // namespace schemas
