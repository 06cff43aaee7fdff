// Delivery queues and the router against fakes and real loopback receivers:
// retries, Retry-After, giving up, back-pressure and per-sink cursors.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "notifier/email_sink.h"
#include "notifier/sink_router.h"
#include "notifier/webhook_sink.h"
#include "tests/notifier/receivers.h"

namespace {

using namespace std::chrono_literals;
using notifier::Attempt;
using notifier::Notification;
using notifier::RetryPolicy;
using notifier::SinkRouter;

Notification Event(std::uint64_t seq, std::uint32_t team = 1, const std::string& event = "failed") {
  Notification n;
  n.topic = "run." + event;
  n.seq = seq;
  n.run.seq = seq;
  n.run.event = event;
  n.run.run.run_id = "r" + std::to_string(seq);
  n.run.run.team = team;
  n.run.run.state = schemas::ParseRunState(event).value_or(schemas::RunState::kRunning);
  return n;
}

// A sink whose deliveries wait on a gate and answer as told.
class FakeSink final : public notifier::Sink {
 public:
  explicit FakeSink(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Attempt Deliver(const Notification& n) override {
    while (!open.load()) std::this_thread::sleep_for(1ms);  // the gate
    std::lock_guard lock(mu);
    seqs.push_back(n.seq);
    return fail.load() ? Attempt::Retry("down") : Attempt::Delivered();
  }
  std::vector<std::uint64_t> Seen() {
    std::lock_guard lock(mu);
    return seqs;
  }
  std::atomic<bool> open{true};
  std::atomic<bool> fail{false};

 private:
  std::string name_;
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
};

RetryPolicy Fast() {
  RetryPolicy p;
  p.initial = 50ms;
  p.max = 200ms;
  p.budget = 1s;
  p.max_attempts = 100;
  return p;
}

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);  // polling worker threads
  }
  return true;
}

std::multiset<std::uint64_t> EventIds(const std::vector<nlohmann::json>& records) {
  std::multiset<std::uint64_t> ids;
  for (const auto& r : records) {
    if (r["status"] == 200) ids.insert(testing::SeqOfEventId(r["event_id"].get<std::string>()));
  }
  return ids;
}

}  // namespace

TEST_CASE("a 429 with Retry-After holds the next attempt back that long") {
  testing::TempDir dir;
  testing::Receiver hook(dir, "hook", {"--status", "429", "--fail-first", "1", "--retry-after", "2"});
  common::SystemClock clock;
  SinkRouter router(clock);
  RetryPolicy policy = Fast();
  policy.budget = 10s;  // a Retry-After past the budget would mean giving up
  const auto q = router.AddQueue(std::make_unique<notifier::WebhookSink>("webhook", hook.url(), 5s,
                                                                         router.abort_flag()),
                                 policy, 100, "");
  router.AddRoute({q, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  REQUIRE(router.Offer(Event(1)));
  const auto records = hook.WaitFor([](const auto& r) { return r.size() >= 2; });
  REQUIRE(records.size() == 2);
  CHECK(records[0]["status"] == 429);
  CHECK(records[1]["status"] == 200);
  const double gap = records[1]["t"].get<double>() - records[0]["t"].get<double>();
  CHECK(gap >= 1.9);  // not the 50 ms backoff
  CHECK(gap < 3.5);
  CHECK(Eventually([&] { return router.FinishedThrough(1) == 1; }));
  CHECK(router.Stats()[0].second.delivered == 1);
  CHECK(router.Stats()[0].second.retries == 1);
}

TEST_CASE("a sink answering 500 forever is retried, then given up and counted, without delaying another") {
  testing::TempDir dir;
  testing::Receiver down(dir, "down", {"--status", "500", "--fail-first", "-1"});
  testing::Receiver up(dir, "up");
  common::SystemClock clock;
  SinkRouter router(clock);
  const auto bad = router.AddQueue(
      std::make_unique<notifier::WebhookSink>("down", down.url(), 5s, router.abort_flag()), Fast(), 100, "");
  const auto good = router.AddQueue(
      std::make_unique<notifier::WebhookSink>("up", up.url(), 5s, router.abort_flag()), Fast(), 100, "");
  router.AddRoute({bad, std::nullopt, {}, {"*"}});
  router.AddRoute({good, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 1; seq <= 20; ++seq) REQUIRE(router.Offer(Event(seq)));

  const auto got = up.WaitFor([](const auto& r) { return r.size() >= 20; });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(EventIds(got).size() == 20);
  CHECK(took < 900ms);  // well inside the failing sink's 1 s budget for its first event
  CHECK(router.FinishedThrough(20) == 0);  // the failing sink still holds seq 1

  // The first event is retried with backoff for its budget; the rest, older
  // than the budget by then, get one attempt each. None is dropped silently.
  REQUIRE(Eventually([&] { return router.Stats()[bad].second.undeliverable == 20; }, 10s));
  const auto stats = router.Stats()[bad].second;
  CHECK(stats.delivered == 0);
  CHECK(stats.retries >= 3);
  CHECK(router.FinishedThrough(20) == 20);
  const auto tries = down.Records();
  CHECK(tries.size() == stats.retries + 20);
  const double first_to_last = tries[stats.retries]["t"].get<double>() - tries[0]["t"].get<double>();
  CHECK(first_to_last >= 0.5);
  CHECK(first_to_last <= 1.5);
}

TEST_CASE("a refusal like 404 is not retried") {
  testing::TempDir dir;
  testing::Receiver hook(dir, "hook", {"--status", "404", "--fail-first", "-1"});
  common::SystemClock clock;
  SinkRouter router(clock);
  const auto q = router.AddQueue(
      std::make_unique<notifier::WebhookSink>("webhook", hook.url(), 5s, router.abort_flag()), Fast(), 100, "");
  router.AddRoute({q, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  REQUIRE(router.Offer(Event(1)));
  REQUIRE(router.Offer(Event(2)));
  REQUIRE(Eventually([&] { return router.Stats()[0].second.undeliverable == 2; }));
  CHECK(hook.Records().size() == 2);
  CHECK(router.Stats()[0].second.retries == 0);
}

TEST_CASE("the cursor moves only past events every sink has finished") {
  common::SystemClock clock;
  SinkRouter router(clock);
  auto slow_owned = std::make_unique<FakeSink>("slow");
  auto fast_owned = std::make_unique<FakeSink>("fast");
  FakeSink* slow = slow_owned.get();
  FakeSink* fast = fast_owned.get();
  slow->open = false;
  const auto s = router.AddQueue(std::move(slow_owned), Fast(), 100, "");
  const auto f = router.AddQueue(std::move(fast_owned), Fast(), 100, "");
  router.AddRoute({s, std::nullopt, {}, {"run.failed"}});
  router.AddRoute({f, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  REQUIRE(router.Offer(Event(1, 1, "started")));  // only the fast sink wants it
  REQUIRE(router.Offer(Event(2)));
  REQUIRE(router.Offer(Event(3)));
  REQUIRE(Eventually([&] { return fast->Seen().size() == 3; }));
  CHECK(router.FinishedThrough(3) == 1);
  slow->open = true;
  REQUIRE(Eventually([&] { return router.FinishedThrough(3) == 3; }));
  CHECK(slow->Seen() == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("per-team routes send a team's events to its own destination") {
  common::SystemClock clock;
  SinkRouter router(clock);
  auto global_owned = std::make_unique<FakeSink>("slack");
  auto team_owned = std::make_unique<FakeSink>("slack.team2");
  FakeSink* global = global_owned.get();
  FakeSink* team = team_owned.get();
  const auto g = router.AddQueue(std::move(global_owned), Fast(), 100, "");
  const auto t = router.AddQueue(std::move(team_owned), Fast(), 100, "");
  router.AddRoute({t, 2u, {}, {"*"}});
  router.AddRoute({g, std::nullopt, {2u, 3u}, {"run.failed"}});  // team 3 muted
  REQUIRE(router.Start().ok());
  REQUIRE(router.Offer(Event(1, 1)));
  REQUIRE(router.Offer(Event(2, 2)));
  REQUIRE(router.Offer(Event(3, 2, "started")));
  REQUIRE(router.Offer(Event(4, 3)));
  REQUIRE(router.Offer(Event(5, 1, "started")));
  REQUIRE(Eventually([&] { return router.FinishedThrough(5) == 5; }));
  CHECK(global->Seen() == std::vector<std::uint64_t>{1});
  CHECK(team->Seen() == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("a full queue pushes back while its sink is healthy and sheds its oldest while it fails") {
  common::SystemClock clock;
  SinkRouter router(clock);
  auto owned = std::make_unique<FakeSink>("sink");
  FakeSink* sink = owned.get();
  sink->open = false;
  RetryPolicy p = Fast();
  p.budget = 60s;
  const auto q = router.AddQueue(std::move(owned), p, 3, "");
  router.AddRoute({q, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  for (std::uint64_t seq = 1; seq <= 3; ++seq) REQUIRE(router.Offer(Event(seq)));

  SUBCASE("healthy: back-pressure, nothing lost") {
    CHECK_FALSE(router.Offer(Event(4)));
    sink->open = true;
    REQUIRE(Eventually([&] { return router.Offer(Event(4)); }));
    REQUIRE(Eventually([&] { return router.FinishedThrough(4) == 4; }));
    CHECK(sink->Seen() == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(router.Stats()[0].second.undeliverable == 0);
  }
  SUBCASE("failing: the oldest waiting event is given up, logged and counted") {
    sink->fail = true;
    sink->open = true;
    REQUIRE(Eventually([&] { return router.Stats()[0].second.retries >= 1; }));
    CHECK(router.Offer(Event(4)));
    const auto stats = router.Stats()[0].second;
    CHECK(stats.overflowed == 1);
    CHECK(stats.undeliverable == 1);
    CHECK(stats.queued == 3);  // 1 (being retried), 3, 4
  }
}

TEST_CASE("a sink's own cursor skips what it finished before a restart") {
  testing::TempDir dir;
  const std::string cursor = dir.Sub("cursor");
  common::SystemClock clock;
  {
    SinkRouter router(clock);
    const auto q = router.AddQueue(std::make_unique<FakeSink>("a"), Fast(), 100, cursor + ".a");
    router.AddRoute({q, std::nullopt, {}, {"*"}});
    REQUIRE(router.Start().ok());
    for (std::uint64_t seq = 1; seq <= 5; ++seq) REQUIRE(router.Offer(Event(seq)));
    REQUIRE(Eventually([&] { return router.FinishedThrough(5) == 5; }));
    router.Stop(1s);
  }
  CHECK(testing::ReadFile(cursor + ".a") == "5");
  SinkRouter router(clock);
  auto owned = std::make_unique<FakeSink>("a");
  FakeSink* sink = owned.get();
  const auto q = router.AddQueue(std::move(owned), Fast(), 100, cursor + ".a");
  router.AddRoute({q, std::nullopt, {}, {"*"}});
  REQUIRE(router.Start().ok());
  for (std::uint64_t seq = 3; seq <= 7; ++seq) REQUIRE(router.Offer(Event(seq)));
  REQUIRE(Eventually([&] { return router.FinishedThrough(7) == 7; }));
  CHECK(sink->Seen() == std::vector<std::uint64_t>{6, 7});
}

TEST_CASE("mail goes over SMTP with STARTTLS to a real server") {
  testing::TempDir dir;
  const std::string cert = dir.Sub("cert.pem");
  const std::string key = dir.Sub("key.pem");
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                          " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  testing::Receiver smtp(dir, "smtp", {"--cert", cert, "--key", key}, /*smtp=*/true);
  notifier::MailSettings mail;
  mail.url = smtp.url();
  mail.from = "daybreak@example.com";
  mail.ca_file = cert;

  SUBCASE("with STARTTLS") {
    mail.starttls = true;
    notifier::EmailSink sink("email", mail, {"ops@example.com", "lead@example.com"}, 5s, nullptr);
    Notification n = Event(9, 2);
    REQUIRE(sink.Deliver(n).delivered());
    const auto got = smtp.WaitFor([](const auto& r) { return !r.empty(); });
    REQUIRE(got.size() == 1);
    CHECK(got[0]["tls"] == true);
    CHECK(got[0]["from"] == "daybreak@example.com");
    CHECK(got[0]["to"] == nlohmann::json::array({"ops@example.com", "lead@example.com"}));
    const std::string data = got[0]["data"];
    CHECK(data.find("Subject: [daybreak] team 2 run r9 failed") != std::string::npos);
    CHECK(data.find("X-Daybreak-Event-Id: 9") != std::string::npos);
  }
  SUBCASE("without it the server refuses the mail") {
    notifier::EmailSink sink("email", mail, {"ops@example.com"}, 5s, nullptr);
    const Attempt a = sink.Deliver(Event(9, 2));
    CHECK_FALSE(a.delivered());
    CHECK(smtp.Records().empty());
  }
}
