// Run dependencies: a team with `after = [...]` runs once per local date,
// when every team it waits for has succeeded for that date.
#include <doctest/doctest.h>

#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

void AddDependent(Harness& h, std::uint32_t id, std::vector<std::uint32_t> after) {
  schemas::TeamRecord team;
  team.id = id;
  team.name = "team " + std::to_string(id);
  team.after = std::move(after);
  REQUIRE(h.m().PutTeam(team).ok());
  h.Collect();
}

// The chained runs of `team` announced so far.
std::vector<RunRecord> ChainedRuns(const Harness& h, std::uint32_t team) {
  std::vector<RunRecord> runs;
  for (const RunEvent& e : h.events()) {
    if (e.run.team == team && e.run.kind == "chained" && e.event == "accepted") runs.push_back(e.run);
  }
  return runs;
}

TEST_CASE("a team waiting for two teams starts once both have succeeded for the date") {
  Harness h;
  h.AddTeam(1);
  h.AddTeam(2);
  AddDependent(h, 3, {1, 2});
  h.Hello("runner-a", 2);
  const std::string first = h.RunOnce(1, "runner-a", "succeeded");
  CHECK(ChainedRuns(h, 3).empty());  // team 2 has not run yet
  const std::string second = h.RunOnce(2, "runner-a", "succeeded");
  const auto chained = ChainedRuns(h, 3);
  REQUIRE(chained.size() == 1);
  CHECK(chained[0].key == "after:3:" + h.Run(second).local_date);
  CHECK(chained[0].requested_by == "after run " + second);
  CHECK(chained[0].pdate == h.Run(first).pdate);
}

TEST_CASE("a failed upstream run does not start the team that waits for it") {
  Harness h;
  h.AddTeam(1);
  h.AddTeam(2);
  AddDependent(h, 3, {1, 2});
  h.Hello("runner-a", 2);
  h.RunOnce(1, "runner-a", "succeeded");
  h.RunOnce(2, "runner-a", "failed");
  CHECK(ChainedRuns(h, 3).empty());
}

// Issue 10: both upstream results in one broker loop turn. The second
// success must see the first, which is staged but not yet written.
TEST_CASE("both upstream teams succeeding in the same broker turn start the dependent run") {
  Harness h;
  h.AddTeam(1);
  h.AddTeam(2);
  AddDependent(h, 3, {1, 2});
  h.Hello("runner-a", 2);
  const std::string one = h.AdmitOk(1);
  const std::string two = h.AdmitOk(2);
  const auto dispatched = h.Sent("runner-a", "dispatch");
  REQUIRE(dispatched.size() == 2);
  h.Started("runner-a", one, 1);
  h.Started("runner-a", two, 1);

  h.BeginTurn();
  h.Result("runner-a", one, 1, "succeeded");
  h.Result("runner-a", two, 1, "succeeded");
  h.EndTurn();

  REQUIRE(ChainedRuns(h, 3).size() == 1);
  SUBCASE("and only once, however often the upstream results are resent") {
    h.Result("runner-a", one, 1, "succeeded");
    h.Result("runner-a", two, 1, "succeeded");
    CHECK(ChainedRuns(h, 3).size() == 1);
  }
}

}  // namespace
}  // namespace broker
