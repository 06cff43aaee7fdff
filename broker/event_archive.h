// EventArchive: where the event log's pruned history goes. Before the
// broker drops events older than broker.event_retention_days it appends
// them, one JSON object per line, to a gzip file per month of the event's
// time (archive_dir/events-YYYY-MM.jsonl.gz, UTC), fsynced before the prune.
// Each append is its own gzip member, which zcat and gzip -d read as one
// stream. A crash between the append and the prune archives those events
// again: readers dedupe by "id" (<incarnation>:<seq>). Format:
// docs/design.md, "History".
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

class EventArchive {
 public:
  explicit EventArchive(std::string dir) : dir_(std::move(dir)) {}

  // Appends `events` (oldest first) to their months' files; kIoError (and
  // nothing to prune) when any cannot be written and synced.
  common::Status Append(const std::vector<schemas::LoggedEvent>& events) const;

  const std::string& dir() const { return dir_; }

  // One event as an archive line: {"id","seq","topic","at_unix_ms",
  // "incarnation","event"} where "event" is the decoded RunEvent or
  // AlertEvent as JSON (null when it does not decode).
  static std::string Line(const schemas::LoggedEvent& e);
  // "events-2026-11.jsonl.gz" for an event at that time (UTC); `kind`
  // "runs" names the run archive's file.
  static std::string FileFor(std::int64_t at_unix_ms, const char* kind = "events");

  // The run history's archive: whole run records past the run retention,
  // one JSON object per line (schemas::ToJson of the record), to
  // runs-YYYY-MM.jsonl.gz by the month the run was accepted (UTC). The same
  // guarantees as Append; readers dedupe by "run_id".
  common::Status AppendRuns(const std::vector<schemas::RunRecord>& runs) const;
  static std::string RunLine(const schemas::RunRecord& run);

 private:
  common::Status Write(const std::map<std::string, std::string>& by_file) const;

  std::string dir_;
};

}  // namespace broker
