// How RocksStore opens its folder so that damage is never served as truth:
// a database is created only in an empty folder; an existing one opens
// without a silent repair (a WAL corrupted before its tail fails, and a
// store that ends before the last event it is known to have written fails
// too); an older format is checkpointed beside the folder, then migrated; a
// newer one is refused. Starting on what survives is an explicit choice
// (`accept_data_loss`) that gives the store a new incarnation and says so.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace broker::rocks {

// The keys of the store's identity, written at its first initialisation.
inline constexpr char kIdKey[] = "M/id";                    // never changes
inline constexpr char kIncarnationKey[] = "M/incarnation";  // new at a restore or accepted loss
inline constexpr char kDataLossPrefix[] = "M/data-loss/";   // <unix ms> -> what was accepted
// The last event seq written before the current incarnation began. To give a
// store a new incarnation (a restore), delete kIncarnationKey before opening
// it: the open makes a new one and records where it began.
inline constexpr char kIncarnationFromKey[] = "M/incarnation-from";

// Beside the database files: the last event seq a commit wrote, so a WAL that
// lost acknowledged writes (cut, or unsynced at a power loss) is noticed.
inline constexpr char kHighWaterFile[] = "DAYBREAK-HIGH-WATER";

struct OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::string id;
  std::string incarnation;
  std::uint64_t incarnation_from = 0;
  // Non-empty when this open accepted a loss: what was lost, for the log and
  // an alert.
  std::string data_loss;
};

struct OpenRequest {
  std::string dir;
  bool accept_data_loss = false;
};

common::Result<OpenedDb> OpenDatabase(const rocksdb::Options& base, const OpenRequest& request);

// Records `seq` as written (after the write that holds it returned).
class HighWater {
 public:
  static common::Result<HighWater> Open(const std::string& dir);
  HighWater(HighWater&& other) noexcept;
  HighWater& operator=(HighWater&&) = delete;
  HighWater(const HighWater&) = delete;
  ~HighWater();
  // The last seq recorded for `incarnation`, or 0 (none, or another's).
  static std::uint64_t Read(const std::string& dir, const std::string& incarnation);
  // What the file in `dir` says, whoever wrote it (empty and 0 if nothing).
  struct Mark {
    std::string incarnation;
    std::uint64_t seq = 0;
  };
  static Mark ReadMark(const std::string& dir);
  // Best effort: a failed write only weakens the check at the next open.
  void Record(const std::string& incarnation, std::uint64_t seq);

 private:
  explicit HighWater(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace broker::rocks
