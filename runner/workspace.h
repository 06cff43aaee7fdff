// Workspace: one attempt's folders. The pipeline writes into a staging
// folder of its own; only a successful attempt's files are moved, by
// rename, into the team's output/ and output_share/, so readers never see a
// killed or retried attempt's half-written files.
//
// The team's tree (its folder, output/, output_share/, .staging and the
// attempt's folders in it) is writable by the team's pipeline, so the runner
// walks it by file descriptor, one folder at a time with O_NOFOLLOW, and
// refuses (kInvalid, "... is a symlink") any folder in it that is a link:
// nothing is ever created, moved or removed through a link, so a pipeline
// cannot reach another team's folders or anything else outside its own.
// Only the configured output root (the team folder's parent) is opened by
// path, following links the operator may have set up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/team.h"
#include "runner/result_file.h"

namespace runner {

// Who the attempt's pipeline runs as, when not as the runner: its staging
// folders are made theirs (and nothing else in the team tree).
struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

class Workspace {
 public:
  // Creates the team's folders and a fresh staging folder for this attempt.
  // `pdate` (YYYY-MM-DD) names the result file. A retry (attempt > 1)
  // first takes back what earlier attempts of the run published. With an
  // `owner`, the staging folder and its output, output_share and tmp are
  // handed to it (fchown on the folders just made, never through a path).
  static common::Result<Workspace> Prepare(const common::TeamDirs& dirs,
                                           const std::string& run_id,
                                           std::uint32_t attempt, const std::string& pdate,
                                           std::optional<Owner> owner = std::nullopt);

  // Creates the team's input, output and share folders (and its staging
  // root) if missing, as Prepare does, with no attempt: a broker's prepare,
  // so inputs can be put in place before the team's first run.
  static common::Status PrepareTeam(const common::TeamDirs& dirs);

  const common::TeamDirs& dirs() const { return dirs_; }
  const std::string& staging() const { return staging_; }
  std::string staging_output() const { return staging_ + "/output"; }
  std::string staging_share() const { return staging_ + "/output_share"; }
  // The attempt's TMPDIR and HOME: never promoted, removed with the staging.
  std::string staging_tmp() const { return staging_ + "/tmp"; }
  // Inside the staged output: a successful run's result file is promoted
  // with its other outputs (output/result_YYYYMMDD.json).
  std::string result_file() const { return staging_output() + "/" + result_name_; }

  // Moves every staged file into place (renameat: atomic per file,
  // replacing an older file of the same name), the result file last, then
  // removes the staging folder. Only regular files are promoted: a staged
  // symlink, folder, FIFO or device refuses the whole promotion (kInvalid)
  // before anything moves, as does a symlinked folder anywhere in the tree.
  // A failed move is kIoError and leaves the rest staged. Idempotent: after
  // an interrupted Promote, calling it again moves what is left and ends
  // with the same outputs. Attempts of one run never publish side by side
  // (PublishLog): promoting takes back an earlier attempt's files, and is
  // refused (kRejected, nothing moves) once a later attempt was prepared.
  common::Status Promote() const;
  // Removes the staging folder and whatever the attempt left in it, never
  // through a link (a staged link is removed, not its target).
  void Discard() const;

 private:
  common::TeamDirs dirs_;
  std::string run_id_;
  std::uint32_t attempt_ = 0;
  std::string staging_;
  std::string staging_name_;  // "<run_id>.<attempt>", inside .staging
  std::string result_name_;
};

}  // namespace runner
