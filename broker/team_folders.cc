// Team folders before the first run: a runner (protocol 4 and later) is
// asked to make every team's input and output folders when it says hello,
// and each team's when the team is put, so people can put a team's inputs
// in place as soon as the team exists. The broker does not see a runner's
// data tree; the runner makes them (PROTOCOL.md, "prepare").
#include "broker/run_manager.h"

#include <algorithm>

#include "common/team.h"

namespace broker {

namespace {
// A prepare's list stays well inside a work frame's 4096-element cap.
constexpr std::size_t kTeamsPerPrepare = 1000;
}  // namespace

void RunManager::SendTeamFolders(const std::string& runner_id,
                                 const std::vector<std::uint32_t>& teams) {
  const std::optional<std::uint32_t> protocol = RunnerProtocolOf(runner_id);
  if (!protocol || *protocol < schemas::kLogReadProtocol || teams.empty()) return;
  for (std::size_t from = 0; from < teams.size(); from += kTeamsPerPrepare) {
    schemas::BrokerMessage prepare;
    prepare.type = std::string(schemas::broker_msg::kPrepare);
    const std::size_t to = std::min(teams.size(), from + kTeamsPerPrepare);
    prepare.teams.assign(teams.begin() + static_cast<std::ptrdiff_t>(from),
                         teams.begin() + static_cast<std::ptrdiff_t>(to));
    protocol_.SendNow(runner_id, std::move(prepare));
  }
}

void RunManager::OnRunnerMessage(const std::string& runner_id,
                                 const schemas::RunnerMessage& message) {
  protocol_.OnMessage(runner_id, message);
  if (message.type != schemas::runner_msg::kHello) return;
  // Only a runner that can take a prepare is worth listing every team for.
  const std::optional<std::uint32_t> protocol = RunnerProtocolOf(runner_id);
  if (!protocol || *protocol < schemas::kLogReadProtocol) return;
  std::vector<std::uint32_t> every;
  teams_.ForEach([&every](const schemas::TeamRecord& t) { every.push_back(t.id); });
  if (teams_.Find(common::kGeneralTeam) == nullptr) every.push_back(common::kGeneralTeam);
  SendTeamFolders(runner_id, every);
}

}  // namespace broker
