// A team's folders exist before its first run: each runner makes them when
// the team is put, and at its hello for every team it missed, so people can
// put a team's inputs in place as soon as `teams add` returns. Real processes.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/support/cluster.h"

namespace {

namespace fs = std::filesystem;

// Polls for the folder, with a deadline: the runner makes it on its own turn.
bool WaitForFolder(const std::string& path, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (fs::is_directory(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fs::is_directory(path);
}

schemas::TeamRecord Team(std::uint32_t id) {
  schemas::TeamRecord t;
  t.id = id;
  t.paused = true;  // no run: the folders come from the prepare alone
  return t;
}

}  // namespace

TEST_CASE("a team's input and output folders exist before its first run") {
  testing::ClusterOptions options;
  options.runners = 1;
  options.ticker = false;
  options.notifier = false;
  testing::Cluster cluster(options);

  SUBCASE("teams add: the connected runner makes them") {
    std::string out;
    REQUIRE(cluster.RunTool({"daybreak", "teams", "add", "12", "--paused"}, &out) == 0);
    CHECK(out.find("inputs go in ") != std::string::npos);
    CHECK(WaitForFolder(cluster.data("inputs/sales_team_12/files_required")));
    CHECK(WaitForFolder(cluster.data("outputs/sales_team_12/output")));
    CHECK(WaitForFolder(cluster.data("outputs/sales_team_12/output_share")));
    CHECK_FALSE(fs::exists(cluster.data("inputs/sales_team_13")));
  }

  SUBCASE("a runner that was away makes every team's at its hello") {
    cluster.StopRunner("runner-1", SIGTERM);
    for (std::uint32_t id : {21u, 22u}) cluster.AddTeam(Team(id));
    CHECK_FALSE(fs::exists(cluster.data("inputs/sales_team_21")));
    cluster.StartRunner("runner-1");
    CHECK(WaitForFolder(cluster.data("inputs/sales_team_21/files_required")));
    CHECK(WaitForFolder(cluster.data("inputs/sales_team_22/files_required")));
    CHECK(WaitForFolder(cluster.data("inputs/files_required")));  // the general run's
  }
}
