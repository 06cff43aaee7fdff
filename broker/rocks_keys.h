// The key layout of RocksStore (see rocks_store.h) and the mapping of
// RocksDB's statuses onto ours, shared by the store and its opening.
// Internal to the broker's RocksDB files: nothing else includes RocksDB.
#pragma once

#include <fmt/format.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace broker::rocks {

inline common::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  using common::Code;
  if (s.ok()) return common::Status();
  if (s.IsNotFound()) return common::Status::Error(Code::kNotFound, what);
  // RocksDB reports ENOSPC as an IOError with subcode kNoSpace.
  if (s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos) {
    return common::Status::Error(Code::kNoSpace, what + ": " + s.ToString());
  }
  return common::Status::Error(s.IsCorruption() ? Code::kCorrupt : Code::kIoError,
                               what + ": " + s.ToString());
}

inline std::string TeamKey(char prefix, std::uint32_t team) { return fmt::format("{}/{:010}", prefix, team); }
inline std::string RunKey(const std::string& run_id) { return "r/" + run_id; }
inline std::string EventKey(std::uint64_t seq) { return fmt::format("e/{:020}", seq); }
// A sink name has no '/' (schemas::ValidateSinkName), so "D/<sink>/" is
// exactly that sink's letters.
inline std::string DeadLetterPrefix(const std::string& sink) { return "D/" + sink + "/"; }
inline std::string DeadLetterKey(const std::string& sink, std::uint64_t seq) {
  return fmt::format("D/{}/{:020}", sink, seq);
}

}  // namespace broker::rocks
