// Workspace: one attempt's folders. The pipeline writes into a staging
// folder of its own; only a successful attempt's files are moved, by
// rename, into the team's output/ and output_share/, so readers never see a
// killed or retried attempt's half-written files.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "common/team.h"

namespace runner {

struct RunMetrics {
  std::int64_t total_loans = -1;
  std::int64_t exceptions_count = -1;
  std::map<std::string, double> metrics;  // every numeric top-level field
};

class Workspace {
 public:
  // Creates the team's folders and a fresh staging folder for this attempt.
  // `pdate` (YYYY-MM-DD) names the result file.
  static common::Result<Workspace> Prepare(const common::TeamDirs& dirs,
                                           const std::string& run_id,
                                           std::uint32_t attempt, const std::string& pdate);

  const common::TeamDirs& dirs() const { return dirs_; }
  const std::string& staging() const { return staging_; }
  std::string staging_output() const { return staging_ + "/output"; }
  std::string staging_share() const { return staging_ + "/output_share"; }
  // Inside the staged output: a successful run's result file is promoted
  // with its other outputs (output/result_YYYYMMDD.json).
  std::string result_file() const { return staging_output() + "/" + result_name_; }

  // Moves every staged file into place (rename: atomic per file, replacing
  // an older file of the same name), then removes the staging folder.
  common::Status Promote() const;
  // Removes the staging folder and whatever the attempt left in it.
  void Discard() const;

 private:
  common::TeamDirs dirs_;
  std::string staging_;
  std::string result_name_;
};

// Reads the pipeline's result file. A missing file is kNotFound; a file
// that is not a JSON object is kCorrupt.
common::Result<RunMetrics> ReadResultFile(const std::string& path);

}  // namespace runner
