#include "runner/workspace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "runner/dir_fd.h"
#include "runner/publish_log.h"

namespace runner {

namespace fs = std::filesystem;
using common::Code;
using common::Status;

namespace {

constexpr const char* kStagingFolder = ".staging";

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// The team's own folder, opened without following a link; its parent (the
// configured output root) is opened by path.
common::Result<UniqueFd> OpenTeamFolder(const common::TeamDirs& dirs, bool create) {
  const fs::path root = WithoutTrailingSlashes(dirs.team_root);
  std::string parent = root.parent_path().string();
  if (parent.empty()) parent = ".";
  auto parent_fd = OpenDir(parent, create);
  if (!parent_fd.ok()) return parent_fd.status();
  return OpenDirAt(parent_fd.value().get(), root.filename().string(), dirs.team_root, create);
}

// The name of `folder` inside the team's folder (DirsFor's layout).
common::Result<std::string> LeafOf(const common::TeamDirs& dirs, const std::string& folder) {
  const std::string prefix = WithoutTrailingSlashes(dirs.team_root) + "/";
  if (folder.rfind(prefix, 0) == 0) {
    std::string leaf = WithoutTrailingSlashes(folder.substr(prefix.size()));
    if (IsSingleComponent(leaf)) return leaf;
  }
  return Status::Error(Code::kInvalid, folder + " is not a folder in " + dirs.team_root);
}

// The folders a promotion reads from and writes to, all opened by fd.
struct Tree {
  UniqueFd team;
  UniqueFd output;
  UniqueFd share;
  UniqueFd staging_root;
};

common::Result<Tree> OpenTree(const common::TeamDirs& dirs, bool create) {
  Tree tree;
  auto team = OpenTeamFolder(dirs, create);
  if (!team.ok()) return team.status();
  tree.team = std::move(team.value());
  for (auto [folder, fd] : {std::pair{&dirs.output, &tree.output},
                            std::pair{&dirs.share, &tree.share}}) {
    auto leaf = LeafOf(dirs, *folder);
    if (!leaf.ok()) return leaf.status();
    auto opened = OpenDirAt(tree.team.get(), leaf.value(), *folder, create);
    if (!opened.ok()) return opened.status();
    *fd = std::move(opened.value());
  }
  auto staging = OpenDirAt(tree.team.get(), kStagingFolder,
                           WithoutTrailingSlashes(dirs.team_root) + "/" + kStagingFolder, create,
                           "cannot list");
  if (!staging.ok()) return staging.status();
  tree.staging_root = std::move(staging.value());
  return tree;
}

struct Move {
  int from_dir;
  int to_dir;
  std::string name;
  std::string from;  // paths, for messages
  std::string to;
  std::uint64_t inode = 0;  // kept by the rename: they name the published file
  std::uint64_t mtime_ns = 0;
};

// Lists the staged files in `from_dir` as moves into `to_dir`, refusing
// anything that is not a regular file.
Status PlanMoves(int from_dir, const std::string& from, int to_dir, const std::string& to,
                 std::vector<Move>& moves) {
  auto names = ListDir(from_dir, from);
  if (!names.ok()) return names.status();
  std::sort(names.value().begin(), names.value().end());
  for (const std::string& name : names.value()) {
    const std::string path = from + "/" + name;
    struct stat st;
    if (::fstatat(from_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::Error(Code::kIoError, "cannot stat " + path + ": " + std::strerror(errno));
    }
    // A link would be published as is, and readers of output_share would
    // follow it to whatever it names (/etc/shadow, another team's files).
    if (S_ISLNK(st.st_mode)) {
      return Status::Error(Code::kInvalid, "refusing to promote " + path + ": it is a symlink");
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::Error(Code::kInvalid,
                           "refusing to promote " + path + ": not a regular file");
    }
    moves.push_back({from_dir, to_dir, name, path, to + "/" + name, st.st_ino, MtimeNs(st)});
  }
  return Status();
}

// The newer of two attempts of one run takes back what the older one
// published, and fences it (PublishLog). `mine` lists what attempt
// `attempt` publishes now (nothing when it is only being prepared).
Status ClaimRun(const Tree& tree, const common::TeamDirs& dirs, const std::string& run_id,
                PublishLog::Record mine) {
  auto log = PublishLog::Open(tree.team.get(), WithoutTrailingSlashes(dirs.team_root));
  if (!log.ok()) return log.status();
  auto previous = log.value().Read(run_id);
  if (!previous.ok()) return previous.status();
  if (previous.value()) {
    const PublishLog::Record& before = *previous.value();
    if (before.attempt > mine.attempt) {
      return Status::Error(Code::kRejected,
                           "attempt " + std::to_string(before.attempt) + " of run " + run_id +
                               " has started since, so attempt " +
                               std::to_string(mine.attempt) + " publishes nothing");
    }
    if (before.attempt < mine.attempt) {
      auto removed = Retract(before, tree.output.get(), dirs.output, tree.share.get(), dirs.share);
      if (!removed.ok()) return removed.status();
      if (removed.value() > 0) {
        spdlog::warn("run {} attempt {}: took back {} files that attempt {} published", run_id,
                     mine.attempt, removed.value(), before.attempt);
      }
    } else {
      // The same attempt again (an interrupted promotion resumed): what it
      // moved the first time is still its own.
      mine.output.insert(mine.output.end(), before.output.begin(), before.output.end());
      mine.share.insert(mine.share.end(), before.share.begin(), before.share.end());
    }
  }
  if (Status s = log.value().Write(run_id, mine); !s.ok()) return s;
  static unsigned promotions = 0;
  if (++promotions % 256 == 0) log.value().Prune();
  return Status();
}

}  // namespace

namespace {
// The team's input folder, and its output tree opened (made if missing).
common::Result<Tree> MakeTeamTree(const common::TeamDirs& dirs) {
  std::error_code ec;
  fs::create_directories(dirs.input, ec);
  if (ec) return Status::Error(Code::kIoError, "cannot create " + dirs.input + ": " + ec.message());
  return OpenTree(dirs, /*create=*/true);
}
}  // namespace

common::Status Workspace::PrepareTeam(const common::TeamDirs& dirs) {
  auto tree = MakeTeamTree(dirs);
  return tree.ok() ? Status() : tree.status();
}

common::Result<Workspace> Workspace::Prepare(const common::TeamDirs& dirs,
                                             const std::string& run_id,
                                             std::uint32_t attempt, const std::string& pdate,
                                             std::optional<Owner> owner) {
  Workspace w;
  std::string compact;
  for (char c : pdate) {
    if (c >= '0' && c <= '9') compact += c;
  }
  w.result_name_ = "result_" + (compact.empty() ? run_id : compact) + ".json";
  w.dirs_ = dirs;
  w.run_id_ = run_id;
  w.attempt_ = attempt;
  w.staging_name_ = run_id + "." + std::to_string(attempt);
  w.staging_ =
      WithoutTrailingSlashes(dirs.team_root) + "/" + kStagingFolder + "/" + w.staging_name_;
  if (!IsSingleComponent(w.staging_name_) || !IsSingleComponent(w.result_name_)) {
    return Status::Error(Code::kInvalid, "run id " + run_id + " cannot name a folder");
  }
  auto tree = MakeTeamTree(dirs);
  if (!tree.ok()) return tree.status();
  // A retry: whatever an earlier attempt of this run published goes, and
  // that attempt may no longer publish (see PublishLog).
  if (attempt > 1) {
    if (Status s = ClaimRun(tree.value(), dirs, run_id, {attempt, {}, {}}); !s.ok()) return s;
  }
  const int staging_root = tree.value().staging_root.get();
  // A leftover from a crashed runner.
  if (Status s = RemoveTreeAt(staging_root, w.staging_name_, w.staging_); !s.ok()) return s;
  auto staging = OpenDirAt(staging_root, w.staging_name_, w.staging_, /*create=*/true);
  if (!staging.ok()) return staging.status();
  auto give = [&owner](int fd, const std::string& path) -> Status {
    if (!owner || fchown(fd, owner->uid, owner->gid) == 0) return Status();
    return Status::Error(Code::kIoError, "cannot give " + path + " to uid " +
                                             std::to_string(owner->uid) + ": " + std::strerror(errno));
  };
  if (Status s = give(staging.value().get(), w.staging_); !s.ok()) return s;
  for (const auto& [name, path] : {std::pair{"output", w.staging_output()},
                                   std::pair{"output_share", w.staging_share()},
                                   std::pair{"tmp", w.staging_tmp()}}) {
    auto made = OpenDirAt(staging.value().get(), name, path, /*create=*/true);
    if (!made.ok()) return made.status();
    if (Status s = give(made.value().get(), path); !s.ok()) return s;
  }
  return w;
}

// A refusal (a link in the tree, a staged link or non-file) is kInvalid; the
// runner reports any failed promotion as transient, and that is right for a
// refusal too: the runner cannot tell a pipeline's doing from a team tree
// tampered with outside the attempt (which an operator can repair before the
// retry), retries are bounded by max_attempts, and a refused promotion
// moves nothing, so no attempt's outputs are ever published half-way.
Status Workspace::Promote() const {
  auto tree = OpenTree(dirs_, /*create=*/false);
  if (!tree.ok()) return tree.status();
  auto staging =
      OpenDirAt(tree.value().staging_root.get(), staging_name_, staging_, false, "cannot list");
  if (!staging.ok()) return staging.status();
  auto staged_output = OpenDirAt(staging.value().get(), "output", staging_output(), false,
                                 "cannot list");
  if (!staged_output.ok()) return staged_output.status();
  auto staged_share = OpenDirAt(staging.value().get(), "output_share", staging_share(), false,
                                "cannot list");
  if (!staged_share.ok()) return staged_share.status();

  // Every entry is checked before the first moves, so a refusal publishes
  // nothing.
  std::vector<Move> moves;
  if (Status s = PlanMoves(staged_output.value().get(), staging_output(),
                           tree.value().output.get(), dirs_.output, moves);
      !s.ok()) {
    return s;
  }
  if (Status s = PlanMoves(staged_share.value().get(), staging_share(), tree.value().share.get(),
                           dirs_.share, moves);
      !s.ok()) {
    return s;
  }
  // The result file last: once it is in place, so is everything else.
  std::stable_partition(moves.begin(), moves.end(), [&](const Move& m) {
    return !(m.from_dir == staged_output.value().get() && m.name == result_name_);
  });
  // Recorded before anything moves: a crash in between leaves a record
  // naming files that are not there, which a later retraction skips.
  PublishLog::Record mine{attempt_, {}, {}};
  for (const Move& m : moves) {
    (m.to_dir == tree.value().output.get() ? mine.output : mine.share).push_back({m.name, m.inode, m.mtime_ns});
  }
  if (Status s = ClaimRun(tree.value(), dirs_, run_id_, std::move(mine)); !s.ok()) return s;
  for (const Move& m : moves) {
    if (::renameat(m.from_dir, m.name.c_str(), m.to_dir, m.name.c_str()) != 0) {
      return Status::Error(Code::kIoError,
                           "cannot move " + m.from + " to " + m.to + ": " + std::strerror(errno));
    }
  }
  Discard();
  return Status();
}

void Workspace::Discard() const {
  // Through nothing but real folders: if the tree holds a link, the staging
  // folder stays (it is not ours to find) rather than anything outside going.
  auto team = OpenTeamFolder(dirs_, /*create=*/false);
  if (!team.ok()) return;
  auto staging_root = OpenDirAt(team.value().get(), kStagingFolder, "", /*create=*/false);
  if (!staging_root.ok()) return;
  (void)RemoveTreeAt(staging_root.value().get(), staging_name_, staging_);
}

}  // namespace runner
