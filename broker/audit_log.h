// AuditLog: one JSON line per change and manual action at the broker (a
// trigger, backfill, cancel, team change or removal, backup), and per
// request refused for its key, with who asked (the key's name when CURVE
// names it), when, what and how it ended. Appended as it happens (one
// write per line) and synced by Sync(), which the broker calls every
// second: a sync per trigger would halve the broker's throughput
// (docs/security.md, "Who may do what").
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace broker {

struct AuditEntry {
  std::int64_t at_unix_ms = 0;
  std::string who;     // the key's name, or "unauthenticated (says <requested_by>)"
  std::string op;
  std::int64_t team = -1;  // -1: not about one team
  std::string run_id;
  std::string detail;  // the op's arguments worth keeping (a date range, a key)
  bool ok = false;
  std::string error;
};

class AuditLog {
 public:
  // `path` empty: nothing is recorded (tests that do not look).
  explicit AuditLog(std::string path) : path_(std::move(path)) {}
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  // Appends one line; an error (the line is then logged instead) never
  // stops the broker: the change itself is already decided.
  common::Status Record(const AuditEntry& entry);
  // Makes what was recorded durable (fdatasync), if anything is new.
  void Sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool dirty_ = false;
};

}  // namespace broker
