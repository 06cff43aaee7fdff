// Team folders before a team's first run (PROTOCOL.md, "prepare"): the
// broker names every team at hello and each team as it is put; the runner
// makes their input and output folders on its host, a few per turn.
#include <spdlog/spdlog.h>

#include "common/team.h"
#include "runner/runner.h"

namespace runner {
namespace {

constexpr std::size_t kFoldersPerTurn = 64;
// A queue bound well above any real fleet's teams: a broker's repeat
// prepares (reconnects) cannot grow it without end.
constexpr std::size_t kMaxQueuedFolders = 2'000'000;

}  // namespace

void Runner::QueueTeamFolders(const schemas::BrokerMessage& prepare) {
  if (settings_.noop) return;  // benchmarks: no file system work at all
  for (std::uint32_t team : prepare.teams) {
    if (!common::ValidateTeamId(team, /*allow_general=*/true).ok()) {
      spdlog::warn("prepare names team id {}, which is not a team id; ignored", team);
      continue;
    }
    if (folders_to_make_.size() >= kMaxQueuedFolders) return;
    folders_to_make_.push_back(team);
  }
}

void Runner::MakeTeamFolders() {
  for (std::size_t i = 0; i < kFoldersPerTurn && !folders_to_make_.empty(); ++i) {
    const std::uint32_t team = folders_to_make_.front();
    folders_to_make_.pop_front();
    const common::TeamDirs dirs = common::DirsFor(team, settings_.input_root, settings_.output_root);
    if (common::Status s = Workspace::PrepareTeam(dirs); !s.ok()) {
      spdlog::warn("cannot make {}'s folders: {}", common::TeamLabel(team), s.message());
    }
  }
}

}  // namespace runner
