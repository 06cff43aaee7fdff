// CursorFile: the last event the notifier delivered (incarnation and seq), kept on disk
// crash-safely (write a temp file, fsync, rename), so a restart replays
// exactly what it had not delivered yet.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace notifier {

// Where delivery stands: the broker store's incarnation and a seq in it.
// An event's id is "<incarnation>:<seq>"; a cursor of another incarnation
// (a restored or rebuilt store) is rebased by Rebase.
struct CursorPosition {
  std::string incarnation;  // empty: written before incarnations, or none yet
  std::uint64_t seq = 0;
};

// The broker store a notifier reads: its incarnation, and the last seq
// written before that incarnation began (ControlReply.incarnation_from).
struct StoreIdentity {
  std::string incarnation;
  std::uint64_t from = 0;
};

// Where to resume in `store` from `position`: the same seq in the same (or
// an unnamed) incarnation; in another, no later than where the store's own
// events begin, since its events after that are new whatever their seq.
std::uint64_t Rebase(const CursorPosition& position, const StoreIdentity& store);

class CursorFile {
 public:
  explicit CursorFile(std::string path) : path_(std::move(path)) {}

  // Seq 0 when the file does not exist yet. kCorrupt when it holds anything
  // but "[<incarnation>:]<seq>"; kIoError when it exists and cannot be read
  // (a silent 0 there would replay the whole retained log).
  common::Result<CursorPosition> Load() const;
  bool Exists() const;
  // Replaces the file atomically: a reader, or a crash at any point, sees
  // the old position or the new one, never a mix. `<path>.tmp` is scratch.
  common::Status Store(const CursorPosition& position) const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace notifier
