// RunnerTable: hello adds or resets a runner, signs of life refresh it,
// silence expires it, and PickFree chooses the runner with the most free
// slots, counting runs a runner reported as well as runs handed to it.
#include "broker/runner_table.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace broker {
namespace {

using namespace std::chrono_literals;
using Mono = common::Clock::Mono;
using Strings = std::vector<std::string>;

const Mono kT0 = Mono(1000s);

TEST_CASE("Upsert adds a runner with its slots and time; Find and Ids see it") {
  RunnerTable table;
  CHECK(table.size() == 0);
  CHECK(table.Find("a") == nullptr);
  CHECK(table.Ids().empty());

  table.Upsert("b", 2, kT0);
  table.Upsert("a", 1, kT0 + 1s);
  CHECK(table.size() == 2);
  CHECK(table.Ids() == Strings{"a", "b"});  // sorted by id
  RunnerTable::Runner* b = table.Find("b");
  REQUIRE(b != nullptr);
  CHECK(b->id == "b");
  CHECK(b->slots == 2);
  CHECK(b->runs.empty());
  CHECK(b->reported.empty());
  CHECK(b->last_seen == kT0);
  CHECK(table.Find("a")->last_seen == kT0 + 1s);
  CHECK(table.Find("c") == nullptr);
}

TEST_CASE("a second hello resets the runner: new slots, no runs, fresh time") {
  RunnerTable table;
  table.Upsert("a", 1, kT0);
  RunnerTable::Runner* a = table.Find("a");
  a->runs = {"run-1"};
  a->reported = {"run-2"};

  table.Upsert("a", 4, kT0 + 5s);
  CHECK(table.size() == 1);  // refreshed, not added twice
  a = table.Find("a");
  REQUIRE(a != nullptr);
  CHECK(a->slots == 4);
  CHECK(a->runs.empty());
  CHECK(a->reported.empty());
  CHECK(a->last_seen == kT0 + 5s);
}

TEST_CASE("Touch refreshes a known runner and refuses an unknown one") {
  RunnerTable table;
  table.Upsert("a", 1, kT0);
  table.Find("a")->runs = {"run-1"};
  CHECK(table.Touch("a", kT0 + 3s));
  CHECK(table.Find("a")->last_seen == kT0 + 3s);
  CHECK(table.Find("a")->runs == std::set<std::string>{"run-1"});  // only the time moves

  CHECK_FALSE(table.Touch("ghost", kT0 + 3s));
  CHECK(table.Find("ghost") == nullptr);  // a heartbeat is not a hello
  CHECK(table.size() == 1);
}

TEST_CASE("Expire removes and returns runners silent since before the cutoff") {
  RunnerTable table;
  table.Upsert("old", 1, kT0);
  table.Upsert("edge", 1, kT0 + 2s);
  table.Upsert("new", 1, kT0 + 3s);
  table.Find("old")->runs = {"run-1", "run-2"};

  CHECK(table.Expire(kT0).empty());  // nobody is older than the cutoff itself

  std::vector<RunnerTable::Runner> dead = table.Expire(kT0 + 2s);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].id == "old");
  CHECK(dead[0].runs == std::set<std::string>{"run-1", "run-2"});  // so they can be recovered
  CHECK(table.Ids() == Strings{"edge", "new"});  // last seen exactly at the cutoff stays

  // A touch keeps a runner alive past a later cutoff.
  CHECK(table.Touch("edge", kT0 + 10s));
  dead = table.Expire(kT0 + 5s);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].id == "new");
  CHECK(table.Ids() == Strings{"edge"});
}

TEST_CASE("Remove returns the runner with its runs; an unknown id returns an empty runner") {
  RunnerTable table;
  table.Upsert("a", 3, kT0);
  table.Upsert("b", 1, kT0);
  table.Find("a")->runs = {"run-1"};

  RunnerTable::Runner gone = table.Remove("a");
  CHECK(gone.id == "a");
  CHECK(gone.slots == 3);
  CHECK(gone.runs == std::set<std::string>{"run-1"});
  CHECK(table.Find("a") == nullptr);
  CHECK(table.Ids() == Strings{"b"});

  RunnerTable::Runner none = table.Remove("a");  // already gone
  CHECK(none.id.empty());
  CHECK(none.runs.empty());
  CHECK(table.size() == 1);
}

TEST_CASE("PickFree takes the runner with the most free slots, or none when all are full") {
  RunnerTable table;
  CHECK(table.PickFree() == nullptr);  // no runners

  table.Upsert("a", 2, kT0);
  table.Upsert("b", 3, kT0);
  table.Upsert("c", 0, kT0);  // a runner with no slots is never picked
  REQUIRE(table.PickFree() != nullptr);
  CHECK(table.PickFree()->id == "b");

  table.Find("b")->runs = {"r1", "r2"};  // b: 1 free, a: 2 free
  CHECK(table.PickFree()->id == "a");

  table.Find("a")->runs = {"r3"};  // both 1 free: the first by id wins the tie
  CHECK(table.PickFree()->id == "a");

  table.Find("a")->runs = {"r3", "r4"};
  table.Find("b")->runs = {"r1", "r2", "r5"};
  CHECK(table.PickFree() == nullptr);

  // More runs than slots (slots shrank at a re-hello) is full, not negative.
  table.Upsert("b", 1, kT0);
  table.Find("b")->runs = {"r1", "r2"};
  CHECK(table.PickFree() == nullptr);
  CHECK(table.PickFree("other") == nullptr);
}

TEST_CASE("PickFree counts reported runs as busy, once each") {
  RunnerTable table;
  table.Upsert("a", 2, kT0);
  table.Upsert("b", 2, kT0);
  // a says it still holds two runs the broker did not hand it: full.
  table.Find("a")->reported = {"x", "y"};
  CHECK(table.PickFree()->id == "b");
  table.Find("b")->runs = {"r1"};
  CHECK(table.PickFree()->id == "b");  // b has 1 free, a none

  // A run both handed to a runner and reported by it takes one slot, not two.
  table.Find("a")->reported = {"x"};
  table.Find("a")->runs = {"x"};
  table.Find("b")->runs = {"r1", "r2"};
  REQUIRE(table.PickFree() != nullptr);
  CHECK(table.PickFree()->id == "a");
}

TEST_CASE("PickFree(run) never picks a runner that reported an earlier attempt of the run") {
  RunnerTable table;
  table.Upsert("a", 4, kT0);
  table.Upsert("b", 1, kT0);
  table.Find("a")->reported = {"run-7"};  // a: 3 free, b: 1 free
  CHECK(table.PickFree()->id == "a");
  CHECK(table.PickFree("")->id == "a");  // no run: same as PickFree()
  CHECK(table.PickFree("run-8")->id == "a");
  REQUIRE(table.PickFree("run-7") != nullptr);
  CHECK(table.PickFree("run-7")->id == "b");

  table.Find("b")->reported = {"run-7"};
  CHECK(table.PickFree("run-7") == nullptr);  // everyone may still hold it
  // A run merely handed to a runner (not reported back) does not exclude it.
  table.Find("a")->reported.clear();
  table.Find("a")->runs = {"run-7"};
  CHECK(table.PickFree("run-7")->id == "a");
}

}  // namespace
}  // namespace broker
