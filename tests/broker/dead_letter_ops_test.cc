// notifications.failed, .redeliver and .sync through the ControlHandler,
// over a RocksStore in a temp dir (reopened, as a broker restart would) or
// a MemoryStore with faults. Each request runs as the broker loop runs it:
// the handler answers, then the turn's group is written.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/control_handler.h"
#include "broker/backups.h"
#include "broker/memory_store.h"
#include "broker/rocks_store.h"
#include "broker/store_check.h"
#include "broker/zap_handler.h"
#include "schemas/codec.h"
#include "tests/broker/harness.h"
#include "tests/support/temp_dir.h"

namespace broker {
namespace {

using schemas::ControlReply;
using schemas::ControlRequest;
using schemas::DeadLetter;
namespace op = schemas::op;
namespace error_code = schemas::error_code;

DeadLetter Letter(const std::string& sink, std::uint64_t seq, std::string reason = "HTTP 404") {
  DeadLetter d;
  d.sink = sink;
  d.seq = seq;
  d.topic = "run.failed";
  d.run_id = "r000000000" + std::to_string(seq % 10);
  d.team = 1;
  d.attempts = 1;
  d.reason = std::move(reason);
  d.failed_unix_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  return d;
}

ControlRequest Sync(std::vector<DeadLetter> given_up, std::vector<DeadLetter> delivered = {}) {
  ControlRequest r;
  r.op = std::string(op::kNotificationsSync);
  r.dead_letters = std::move(given_up);
  r.delivered = std::move(delivered);
  return r;
}

ControlRequest Failed(const std::string& sink = "", std::uint32_t limit = 0) {
  ControlRequest r;
  r.op = std::string(op::kNotificationsFailed);
  r.sink = sink;
  r.limit = limit;
  return r;
}

ControlRequest Redeliver(const std::string& sink = "", std::vector<std::uint64_t> seqs = {}) {
  ControlRequest r;
  r.op = std::string(op::kNotificationsRedeliver);
  r.sink = sink;
  r.seqs = std::move(seqs);
  return r;
}

std::vector<std::pair<std::string, std::uint64_t>> Keys(const std::vector<DeadLetter>& letters) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& d : letters) out.emplace_back(d.sink, d.seq);
  return out;
}

using KeyList = std::vector<std::pair<std::string, std::uint64_t>>;

// A broker's control side over `store`, which must outlive it.
class Broker {
 public:
  explicit Broker(Store& store) : h_(store), handler_(h_.m(), store, h_.teams()) {}

  ControlReply Ask(const ControlRequest& request,
                   const std::optional<common::KeyGrant>& caller = std::nullopt) {
    const std::string bytes = handler_.Handle(schemas::Encode(request), caller);
    h_.Collect();  // the turn's group is written before the reply leaves
    auto reply = schemas::DecodeControlReply(bytes);
    REQUIRE_MESSAGE(reply.ok(), reply.status().ToString());
    return reply.value();
  }
  std::int64_t Stat(const std::string& name) {
    ControlRequest r;
    r.op = std::string(op::kStats);
    const ControlReply reply = Ask(r);
    REQUIRE(reply.ok);
    auto it = reply.stats.find(name);
    return it == reply.stats.end() ? -1 : it->second;
  }
  ControlHandler& handler() { return handler_; }

 private:
  testing_support::Harness h_;
  ControlHandler handler_;
};

struct Rocks {
  testing::TempDir dir;
  std::unique_ptr<RocksStore> store;
  Rocks() { Reopen(); }
  void Reopen() {
    store.reset();
    auto opened = RocksStore::Open(dir.Sub("db"), /*sync=*/false);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    store = std::move(opened).value();
  }
};

}  // namespace

TEST_CASE("give-ups a sync records are listed by sink then seq, and survive a broker restart") {
  Rocks rocks;
  {
    Broker broker(*rocks.store);
    const ControlReply synced = broker.Ask(Sync({Letter("webhook", 7), Letter("slack", 9), Letter("slack", 3)}));
    REQUIRE_MESSAGE(synced.ok, synced.error);
    CHECK(synced.dead_letters.empty());  // nothing asked for again yet
    CHECK(broker.Stat("notifications_failed") == 3);
  }
  rocks.Reopen();
  Broker broker(*rocks.store);
  const ControlReply listed = broker.Ask(Failed());
  REQUIRE_MESSAGE(listed.ok, listed.error);
  CHECK(Keys(listed.dead_letters) == KeyList{{"slack", 3}, {"slack", 9}, {"webhook", 7}});
  CHECK(listed.dead_letters[0].reason == "HTTP 404");
  CHECK(listed.dead_letters[0].topic == "run.failed");
  CHECK(listed.dead_letters[0].failed_unix_ms == 1'700'000'000'003);
  CHECK(broker.Stat("notifications_failed") == 3);  // counted again from the store

  SUBCASE("--sink lists one destination's") {
    CHECK(Keys(broker.Ask(Failed("slack")).dead_letters) == KeyList{{"slack", 3}, {"slack", 9}});
    CHECK(broker.Ask(Failed("email")).dead_letters.empty());
  }
  SUBCASE("--limit keeps the newest failures") {
    const ControlReply two = broker.Ask(Failed("", 2));
    CHECK(Keys(two.dead_letters) == KeyList{{"slack", 9}, {"webhook", 7}});
    CHECK(two.stats.at("total") == 3);
  }
  SUBCASE("a sink name that cannot be one is a clear error") {
    const ControlReply bad = broker.Ask(Failed("a/b"));
    CHECK_FALSE(bad.ok);
    CHECK(bad.code == error_code::kInvalid);
    CHECK(bad.error.find("'/'") != std::string::npos);
  }
}

TEST_CASE("redeliver marks the letters asked for, the sync answers with them, and they persist") {
  Rocks rocks;
  {
    Broker broker(*rocks.store);
    REQUIRE(broker.Ask(Sync({Letter("slack", 3), Letter("slack", 9), Letter("webhook", 9)})).ok);

    SUBCASE("by sink") {
      const ControlReply asked = broker.Ask(Redeliver("slack"));
      REQUIRE_MESSAGE(asked.ok, asked.error);
      CHECK(asked.message == "2 notifications queued for redelivery");
      CHECK(Keys(asked.dead_letters) == KeyList{{"slack", 3}, {"slack", 9}});
    }
    SUBCASE("by seq, across sinks") {
      const ControlReply asked = broker.Ask(Redeliver("", {9, 3}));
      REQUIRE_MESSAGE(asked.ok, asked.error);
      CHECK(asked.message == "3 notifications queued for redelivery");
      // Asking again lists them again and changes nothing.
      CHECK(broker.Ask(Redeliver("", {9, 3})).dead_letters.size() == 3);
      // Webhook 9 fails again (a new give-up): it is no longer asked for.
      REQUIRE(broker.Ask(Sync({Letter("webhook", 9)})).ok);
    }
  }
  rocks.Reopen();
  Broker broker(*rocks.store);
  const ControlReply sync = broker.Ask(Sync({}));
  REQUIRE_MESSAGE(sync.ok, sync.error);
  CHECK(Keys(sync.dead_letters) == KeyList{{"slack", 3}, {"slack", 9}});
  for (const auto& d : sync.dead_letters) CHECK(d.redeliver);
  const ControlReply listed = broker.Ask(Failed());
  CHECK(listed.dead_letters.size() == 3);
  CHECK(listed.dead_letters[0].redeliver);
  CHECK_FALSE(listed.dead_letters[2].redeliver);  // webhook 9
}

TEST_CASE("a redelivery asked for is in the audit log with who asked and how many; a sync is not") {
  MemoryStore store;
  Broker broker(store);
  testing::TempDir dir;
  AuditLog audit(dir.Sub("audit.jsonl"));
  broker.handler().SetAuditLog(&audit);
  REQUIRE(broker.Ask(Sync({Letter("slack", 3), Letter("slack", 4)})).ok);
  ControlRequest r = Redeliver("slack");
  r.requested_by = "daybreak-cli";
  REQUIRE(broker.Ask(r).ok);
  audit.Sync();
  const std::string log = dir.ReadFile("audit.jsonl");
  CHECK_MESSAGE(log.find("notifications.redeliver") != std::string::npos, log);
  CHECK(log.find("2 notifications queued for redelivery") != std::string::npos);
  CHECK(log.find("daybreak-cli") != std::string::npos);
  CHECK(log.find("notifications.sync") == std::string::npos);  // every few seconds: not a person's change
}

TEST_CASE("redeliver with nothing matching is not_found and changes nothing") {
  MemoryStore store;
  Broker broker(store);
  REQUIRE(broker.Ask(Sync({Letter("slack", 3)})).ok);
  const std::size_t writes = store.writes();
  for (const ControlRequest& r : {Redeliver("webhook"), Redeliver("slack", {4}), Redeliver("", {99})}) {
    const ControlReply reply = broker.Ask(r);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kNotFound);
    CHECK(reply.error.find("no failed notification") != std::string::npos);
  }
  CHECK(store.writes() == writes);
  CHECK(broker.Ask(Sync({})).dead_letters.empty());
}

TEST_CASE("a sync clears only the redeliveries it reports delivered, and only while they wait") {
  MemoryStore store;
  Broker broker(store);
  REQUIRE(broker.Ask(Sync({Letter("slack", 3), Letter("slack", 4), Letter("webhook", 3)})).ok);
  REQUIRE(broker.Ask(Redeliver("slack")).ok);  // slack 3 and 4
  CHECK(broker.Stat("notifications_failed") == 3);

  // slack 3 got through; webhook 3 was never asked for again, so a report
  // of it (a stray, or a replay) must not clear it.
  const ControlReply after = broker.Ask(Sync({}, {Letter("slack", 3), Letter("webhook", 3)}));
  REQUIRE_MESSAGE(after.ok, after.error);
  CHECK(Keys(after.dead_letters) == KeyList{{"slack", 4}});  // still waiting
  CHECK(Keys(broker.Ask(Failed()).dead_letters) == KeyList{{"slack", 4}, {"webhook", 3}});
  CHECK(broker.Stat("notifications_failed") == 2);

  SUBCASE("a redelivery that fails again is a new letter, not asked for again") {
    const ControlReply again = broker.Ask(Sync({Letter("slack", 4, "HTTP 500 after 3 attempts")}, {}));
    REQUIRE(again.ok);
    CHECK(again.dead_letters.empty());
    const ControlReply listed = broker.Ask(Failed("slack"));
    REQUIRE(listed.dead_letters.size() == 1);
    CHECK(listed.dead_letters[0].reason == "HTTP 500 after 3 attempts");
    CHECK_FALSE(listed.dead_letters[0].redeliver);
    CHECK(broker.Stat("notifications_failed") == 2);
  }
  SUBCASE("a delivered report of a letter that failed again in the same sync keeps the new failure") {
    REQUIRE(broker.Ask(Sync({Letter("slack", 4, "refused")}, {Letter("slack", 4)})).ok);
    CHECK(broker.Ask(Failed("slack")).dead_letters.size() == 1);
  }
}

TEST_CASE("the dead-letter ops need a key for every team; the notifier's sync is refused a team's key") {
  MemoryStore store;
  Broker broker(store);
  REQUIRE(broker.Ask(Sync({Letter("slack", 3)})).ok);
  const common::KeyGrant alice{common::KeyRole::kClient, "", "alice", {1}};
  for (const ControlRequest& r : {Failed(), Redeliver("slack"), Sync({Letter("slack", 5)})}) {
    CAPTURE(r.op);
    const ControlReply reply = broker.Ask(r, alice);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kRejected);
    CHECK(reply.error.find("needs a key for every team") != std::string::npos);
  }
  CHECK(broker.Stat("notifications_failed") == 1);  // nothing changed
  const common::KeyGrant ops{common::KeyRole::kClient, "", "ops", {}};
  CHECK(broker.Ask(Redeliver("slack"), ops).ok);
  const common::KeyGrant publisher{common::KeyRole::kPublisher, ""};
  CHECK(broker.Ask(Sync({}), publisher).dead_letters.size() == 1);
  // The notifier holds a publisher key: the sync is the one op of the three it may send.
  CHECK(PublisherMayAsk(op::kNotificationsSync));
  CHECK_FALSE(PublisherMayAsk(op::kNotificationsRedeliver));
  CHECK_FALSE(PublisherMayAsk(op::kNotificationsFailed));
}

TEST_CASE("dead letters are carried by a backup and its restore, and pass the store check") {
  Rocks rocks;
  {
    Broker broker(*rocks.store);
    REQUIRE(broker.Ask(Sync({Letter("slack", 3), Letter("email.team2", 8)})).ok);
    REQUIRE(broker.Ask(Redeliver("slack")).ok);
  }
  auto report = rocks.store->Check();
  REQUIRE(report.ok());
  CHECK(report.value().ok());
  CHECK(report.value().dead_letters == 2);
  CHECK(report.value().Summary().find("2 dead letters") != std::string::npos);
  REQUIRE(rocks.store->CreateBackup(rocks.dir.Sub("backups"), 0).ok());
  rocks.store.reset();
  auto restored = RestoreBackup(rocks.dir.Sub("backups"), 0, rocks.dir.Sub("db"));
  REQUIRE_MESSAGE(restored.ok(), restored.status().ToString());
  rocks.Reopen();
  auto letters = rocks.store->DeadLetters("", 0);
  REQUIRE(letters.ok());
  CHECK(Keys(letters.value()) == KeyList{{"email.team2", 8}, {"slack", 3}});
  CHECK(letters.value()[1].redeliver);

  auto again = rocks.store->Check();
  REQUIRE(again.ok());
  CHECK(again.value().ok());
  CHECK(again.value().dead_letters == 2);
}

TEST_CASE("a sync with a letter it cannot store is refused whole") {
  MemoryStore store;
  Broker broker(store);
  DeadLetter no_seq = Letter("slack", 0);
  DeadLetter slash = Letter("slack/x", 4);
  for (const DeadLetter& bad : {no_seq, slash}) {
    const ControlReply reply = broker.Ask(Sync({Letter("slack", 3), bad}));
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kInvalid);
  }
  CHECK(broker.Ask(Failed()).dead_letters.empty());
}

TEST_CASE("while the disk is full redeliver and sync are refused with no_space; the list is still read") {
  MemoryStore store;
  Broker broker(store);
  REQUIRE(broker.Ask(Sync({Letter("slack", 3)})).ok);
  store.faults().no_space = true;
  ControlRequest trigger;  // the broker learns of the full disk from a write
  trigger.op = std::string(op::kTrigger);
  trigger.team = 1;
  (void)broker.Ask(trigger);
  for (const ControlRequest& r : {Redeliver("slack"), Sync({Letter("slack", 4)})}) {
    const ControlReply reply = broker.Ask(r);
    CHECK_FALSE(reply.ok);
    CHECK(reply.code == error_code::kNoSpace);
  }
  CHECK(broker.Ask(Failed()).dead_letters.size() == 1);
}

TEST_CASE("the store check names a dead letter that does not decode or sits under another's key") {
  Rocks rocks;
  {
    Broker broker(*rocks.store);
    REQUIRE(broker.Ask(Sync({Letter("slack", 3)})).ok);
  }
  rocks.store.reset();
  {
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(rocksdb::Options(), rocks.dir.Sub("db"), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    const rocksdb::WriteOptions w;
    REQUIRE(db->Put(w, "D/slack/00000000000000000005", "not msgpack").ok());
    REQUIRE(db->Put(w, "D/slack/00000000000000000006", schemas::Encode(Letter("webhook", 6))).ok());
  }
  auto report = CheckStoreFolder(rocks.dir.Sub("db"));
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report.value().dead_letters == 3);
  CHECK(report.value().problem_count == 2);
  bool undecodable = false, misfiled = false;
  for (const std::string& p : report.value().problems) {
    undecodable = undecodable || p.find("dead letter D/slack/00000000000000000005 does not decode") != std::string::npos;
    misfiled = misfiled || p.find("D/slack/00000000000000000006 is for sink webhook seq 6") != std::string::npos;
  }
  CHECK(undecodable);
  CHECK(misfiled);
}

}  // namespace broker
