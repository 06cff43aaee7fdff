// RocksStore on a real small filesystem (tmpfs) that fills up: below the
// reserve nothing is written and the staged group is kept, whole, for the
// Flush after space returns; and a broker's retries write it exactly once.
#include <doctest/doctest.h>

#include <string>

#include "broker/rocks_store.h"
#include "tests/broker/store_fixtures.h"
#include "tests/support/small_disk.h"

namespace broker {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

Change NewRun(std::uint64_t number) {
  return testing_support::NewRunChange(number, schemas::RunState::kAccepted, 1, 4096);
}

TEST_CASE("below the free-space reserve a write is refused as no space, kept, and written once space returns") {
  testing::SmallDisk disk(48);
  if (!disk.mounted()) {
    MESSAGE("skipped: " << disk.why_not());
    return;
  }
  auto opened = RocksStore::Open(disk.Sub("db"), OpenOptions{.sync = true, .min_free_bytes = 16 * kMiB});
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  RocksStore& store = *opened.value();
  REQUIRE(store.Commit(NewRun(1)).ok());

  disk.FillLeaving(8 * kMiB);
  // Straight commits and staged groups alike.
  const common::Status direct = store.Commit(NewRun(2));
  CHECK(direct.code() == common::Code::kNoSpace);
  CHECK(direct.message().find("broker.min_free_mb") != std::string::npos);
  CHECK(direct.message().find(disk.Sub("db")) != std::string::npos);
  store.Stage(NewRun(3));
  store.Stage(NewRun(4));
  CHECK(store.Flush().code() == common::Code::kNoSpace);
  CHECK(store.Flush().code() == common::Code::kNoSpace);  // still kept, still refused
  CHECK(store.GetRun(RunIdFor(3)).status().code() == common::Code::kNotFound);
  CHECK(store.LastSeq().value() == 1);

  disk.Free();
  REQUIRE(store.Flush().ok());
  CHECK(store.GetRun(RunIdFor(3)).ok());
  CHECK(store.GetRun(RunIdFor(4)).ok());
  CHECK(store.GetRun(RunIdFor(2)).status().code() == common::Code::kNotFound);  // its caller was told
  CHECK(store.LastSeq().value() == 4);
  CHECK(store.EventsAfter(0, 10).value().size() == 3);  // 1, 3, 4: each once
  CHECK(store.Flush().ok());  // nothing staged: nothing written twice
  CHECK(store.EventsAfter(0, 10).value().size() == 3);
}

}  // namespace
}  // namespace broker
