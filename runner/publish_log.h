// PublishLog: what each run's latest attempt published in one team's tree
// (<team>/.published/<run_id>), so that attempts of one run never publish
// side by side.
//
// A run can be retried although an earlier attempt published: the broker
// asked attempt 1 to promote, lost its runner before `promoted` came back,
// and could not tell. So the next attempt, when it is prepared, takes back
// what the earlier one published and fences it: the record now names the
// newer attempt, and an older attempt's promotion that arrives late (a
// frame delayed in a cut link) is refused. Readers then see one attempt's
// outputs or none, never two, and a run that ends failed publishes nothing.
//
// Every read and write happens under an flock of the .published folder,
// held while the object lives: runners on one host (or on a shared file
// system with locks) promote one at a time per team. Records are pruned
// after kKeepRecords.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "common/status.h"
#include "runner/dir_fd.h"

namespace runner {

class PublishLog {
 public:
  // A published file: its name in output/ or output_share/, its inode and
  // its mtime (ns; a rename keeps both, and a reused inode gets a new
  // mtime), so that taking it back never removes a newer file of the name.
  struct File {
    std::string name;
    std::uint64_t inode = 0;
    std::uint64_t mtime_ns = 0;
  };
  // Which attempt of a run published which files (none for a fence).
  struct Record {
    std::uint32_t attempt = 0;
    std::vector<File> output;
    std::vector<File> share;
  };
  static constexpr std::chrono::hours kKeepRecords{24 * 14};

  // Opens (making it) the team's .published folder and locks it.
  static common::Result<PublishLog> Open(int team_fd, const std::string& team_root);

  // The run's record; nullopt when there is none. A record that does not
  // parse is kCorrupt.
  common::Result<std::optional<Record>> Read(const std::string& run_id) const;
  // Replaces the run's record (written aside, then renamed into place).
  common::Status Write(const std::string& run_id, const Record& record) const;
  // Removes records not written for kKeepRecords.
  void Prune() const;

 private:
  UniqueFd dir_;
  std::string path_;
};

// A file's mtime in ns (PublishLog::File).
std::uint64_t MtimeNs(const struct stat& st);

// Removes the files `record` names from the team's output and share
// folders, where they are still the files it published (same inode and
// mtime): a
// missing or since replaced file is left alone. Returns how many it removed.
common::Result<std::size_t> Retract(const PublishLog::Record& record, int output_fd,
                                    const std::string& output, int share_fd,
                                    const std::string& share);

}  // namespace runner
