// Storage faults, through a MemoryStore with fault switches: a failed write
// stops the broker (failure() is sticky, nothing is announced that is not
// written), a restart reloads the truth, a full disk is a state the broker
// waits out (holding what it decided), and a failed read refuses the
// request without changing anything.
#include <doctest/doctest.h>

#include "broker/memory_store.h"
#include "tests/broker/harness.h"

namespace broker {
namespace {

using namespace testing_support;

TEST_CASE("a failed write stops the broker and announces nothing it did not write") {
  MemoryStore store;
  std::size_t published_before = 0;
  std::string kept;
  {
    Harness h(store);
    h.AddTeam(1);
    h.Hello("runner-a");
    kept = h.RunOnce(1, "runner-a", "succeeded");
    published_before = h.published().size();

    store.faults().fail_writes = true;
    const Admission lost = h.m().Admit(h.Manual(1, "lost-key"));
    REQUIRE(lost.status.ok());  // decided in memory, not yet written
    h.Collect();
    CHECK_FALSE(h.m().failure().ok());
    CHECK(h.m().failure().code() == common::Code::kIoError);
    CHECK(h.published().size() == published_before);  // no run.accepted, no dispatch
    CHECK(h.Sent("runner-a", "dispatch").empty());
    // Sticky: later writes are refused even once the disk is back.
    store.faults() = MemoryStore::Faults();
    CHECK_FALSE(h.m().Persist().ok());
  }
  // A restart reloads what was written: the first run, not the lost one.
  Harness again(store);
  CHECK(again.State(kept) == "succeeded");
  CHECK(store.FindRunIdByKey("lost-key").status().code() == common::Code::kNotFound);
  const Admission retried = again.Admit(again.Manual(1, "lost-key"));
  CHECK(retried.status.ok());
  CHECK_FALSE(retried.duplicate);
  CHECK(again.m().last_seq() == store.LastSeq().value());
}

TEST_CASE("a full disk holds what is decided, unannounced, and writes and announces it once space returns") {
  MemoryStore store;
  Harness h(store);
  h.AddTeam(1);
  h.AddTeam(2);
  h.Hello("runner-a");
  const std::size_t published_before = h.published().size();
  const std::size_t events_before = h.events().size();

  store.faults().no_space = true;
  const Admission held = h.Admit(h.Manual(1, "held-key"));
  REQUIRE(held.status.ok());  // decided in memory
  CHECK(h.m().failure().ok());  // not a failure: nothing is lost, the broker goes on
  CHECK(h.m().no_space().code() == common::Code::kNoSpace);
  CHECK(h.published().size() == published_before);  // no run.accepted for what is not written
  CHECK(h.Sent("runner-a", "dispatch").empty());    // and no run started on it
  CHECK(store.FindRunIdByKey("held-key").status().code() == common::Code::kNotFound);
  // The broker's own reads see what it decided: the same key is a duplicate.
  const Admission again = h.Admit(h.Manual(1, "held-key"));
  CHECK(again.duplicate);
  CHECK(again.run.run_id == held.run.run_id);
  // More is decided while full, and still kept in order.
  const Admission second = h.Admit(h.Manual(2, "second-key"));
  REQUIRE(second.status.ok());
  h.Advance(std::chrono::seconds(30));  // turns go by; still nothing announced
  CHECK(h.published().size() == published_before);

  store.faults().no_space = false;  // an operator freed space
  h.Collect();
  CHECK(h.m().no_space().ok());
  CHECK(store.FindRunIdByKey("held-key").value() == held.run.run_id);
  CHECK(store.FindRunIdByKey("second-key").value() == second.run.run_id);
  std::vector<std::string> accepted;
  for (std::size_t i = events_before; i < h.events().size(); ++i) {
    if (h.events()[i].event == "accepted") accepted.push_back(h.events()[i].run.run_id);
  }
  CHECK(accepted == std::vector<std::string>{held.run.run_id, second.run.run_id});
  // And runs start on it again (runner-a has one slot: the older run first).
  const auto dispatched = h.Sent("runner-a", "dispatch");
  REQUIRE(dispatched.size() == 1);
  CHECK(dispatched[0].run_id == held.run.run_id);
  CHECK(h.m().last_seq() == store.LastSeq().value());
}

TEST_CASE("a failed read refuses the due event and changes nothing") {
  MemoryStore store;
  Harness h(store);
  h.AddTeam(1);
  const std::size_t writes = store.writes();
  store.faults().fail_reads = true;
  const Admission a = h.Admit(h.Manual(1, "some-key"));
  CHECK_FALSE(a.status.ok());
  CHECK(a.status.message().find("read failed") != std::string::npos);
  CHECK(h.m().failure().ok());  // a read fault is the request's, not the broker's
  CHECK(store.writes() == writes);
  store.faults().fail_reads = false;
  CHECK(h.Admit(h.Manual(1, "some-key")).status.ok());
}

TEST_CASE("a store that cannot be read at start is reported by Load") {
  MemoryStore store;
  { Harness h(store); }
  store.faults().fail_reads = true;
  TeamRegistry teams(TeamDefaults{});
  ::testing::FakeClock clock;
  RunManager manager(store, teams, clock, TestSettings());
  const common::Status s = manager.Load();
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("read failed") != std::string::npos);
}

}  // namespace
}  // namespace broker
