// The notifier for real: a broker and runners on loopback, real HTTP and
// SMTP receivers, the daybreak-notifier binary started, killed with -9 and
// restarted by the test.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "tests/notifier/receivers.h"
#include "tests/support/cluster.h"

namespace {

using namespace std::chrono_literals;
using testing::Cluster;
using testing::Receiver;

// A team whose pipeline is `command`, one attempt per run, queueing runs.
void AddTeam(Cluster& cluster, std::uint32_t id, const std::string& command) {
  schemas::TeamRecord t;
  t.id = id;
  t.overlap = "queue";
  t.max_attempts = 1;
  t.command = {command};
  cluster.AddTeam(t);
}

// Every logged event, oldest first.
std::vector<schemas::LoggedEvent> AllEvents(Cluster& cluster) {
  std::vector<schemas::LoggedEvent> out;
  while (true) {
    schemas::ControlRequest r;
    r.op = "events.since";
    r.since_seq = out.empty() ? 0 : out.back().seq;
    r.limit = 10000;
    auto reply = cluster.Call(r);
    REQUIRE(reply.ok());
    if (reply.value().events.empty()) return out;
    for (auto& e : reply.value().events) out.push_back(e);
  }
}

std::set<std::uint64_t> Seqs(const std::vector<schemas::LoggedEvent>& events,
                             const std::function<bool(const std::string& topic)>& keep) {
  std::set<std::uint64_t> out;
  for (const auto& e : events) {
    if (keep(e.topic)) out.insert(e.seq);
  }
  return out;
}

// Event ids of the successful (200) requests, with repeats.
std::multiset<std::uint64_t> HttpIds(const std::vector<nlohmann::json>& records) {
  std::multiset<std::uint64_t> ids;
  for (const auto& r : records) {
    if (r["status"] == 200) ids.insert(testing::SeqOfEventId(r["event_id"].get<std::string>()));
  }
  return ids;
}

std::set<std::uint64_t> Distinct(const std::multiset<std::uint64_t>& ids) {
  return std::set<std::uint64_t>(ids.begin(), ids.end());
}

std::uint64_t MailId(const nlohmann::json& mail) {
  const std::string data = mail["data"];
  const auto at = data.find("X-Daybreak-Event-Id: ");
  if (at == std::string::npos) return 0;
  const std::size_t end = data.find_first_of("\r\n", at + 21);
  return testing::SeqOfEventId(data.substr(at + 21, end - at - 21));
}

class NotifierUnderTest {
 public:
  NotifierUnderTest(Cluster& cluster, const std::string& config_toml)
      : cluster_(cluster),
        config_(cluster.root() + "/notifier.toml"),
        cursor_(cluster.root() + "/notifier-state/cursor") {
    std::ofstream(config_) << config_toml;
  }
  void Start() {
    process_ = std::make_unique<testing::TestProcess>(
        std::vector<std::string>{std::string(DAYBREAK_BIN_DIR) + "/daybreak-notifier", "-c", config_,
                                 "--cursor", cursor_},
        cluster_.Environment(), log());
  }
  void Signal(int signal) { process_->Signal(signal); }
  void Rewrite(const std::string& config_toml) { std::ofstream(config_) << config_toml; }
  const std::string& config() const { return config_; }
  void Kill9() {
    process_->Signal(SIGKILL);
    process_->Wait(5s);
  }
  std::string log() const { return cluster_.root() + "/logs/notifier-under-test.log"; }

 private:
  Cluster& cluster_;
  std::string config_;
  std::string cursor_;
  std::unique_ptr<testing::TestProcess> process_;
};

testing::ClusterOptions Options() {
  testing::ClusterOptions o;
  o.runners = 2;
  o.ticker = false;
  o.notifier = false;
  o.env = {{"DAYBREAK_MAX_ATTEMPTS", "1"}, {"DAYBREAK_SLOTS", "4"}};
  return o;
}

void RunAndWait(Cluster& cluster, std::uint32_t team) {
  const auto run = cluster.Trigger(team);
  const auto done = cluster.WaitForTerminal(run.run_id);
  REQUIRE_MESSAGE((done.state == schemas::RunState::kFailed || done.state == schemas::RunState::kSucceeded), "run " << run.run_id << " " << done.state);
}

}  // namespace

TEST_CASE("every event reaches every configured sink, and a failure streak alerts once") {
  Cluster cluster(Options());
  testing::TempDir dir;
  Receiver slack(dir, "slack");
  Receiver webhook(dir, "webhook");
  Receiver smtp(dir, "smtp", {}, /*smtp=*/true);
  NotifierUnderTest notifier(cluster, fmt::format(R"(
[notifier]
retry_initial_s = 0.1
retry_max_s = 0.5

[notifier.slack]
url = "{}"
events = ["*"]

[notifier.webhook]
url = "{}"

[notifier.email]
smtp_url = "{}"
from = "daybreak@example.com"
to = ["ops@example.com"]
events = ["*"]

[[notifier.team]]
id = 1
email_to = ["team1@example.com"]
)", slack.url(), webhook.url(), smtp.url()));
  notifier.Start();
  AddTeam(cluster, 1, "/bin/true");
  AddTeam(cluster, 2, "/bin/false");
  for (int i = 0; i < 4; ++i) RunAndWait(cluster, 2);  // threshold 3: one alert
  AddTeam(cluster, 2, "/bin/true");
  RunAndWait(cluster, 2);  // recovered
  RunAndWait(cluster, 1);

  const auto events = AllEvents(cluster);
  const auto all = Seqs(events, [](const std::string& t) { return t.starts_with("run.") || t.starts_with("alert."); });
  REQUIRE(all.size() >= 20);
  const auto done = [&](const std::vector<nlohmann::json>& r) { return Distinct(HttpIds(r)) == all; };
  CHECK(Distinct(HttpIds(webhook.WaitFor(done))) == all);
  CHECK(Distinct(HttpIds(slack.WaitFor(done))) == all);
  const auto mails = smtp.WaitFor([&](const auto& r) { return r.size() >= all.size(); });
  std::set<std::uint64_t> mailed;
  std::map<std::uint64_t, nlohmann::json> mail_of;
  for (const auto& m : mails) {
    mailed.insert(MailId(m));
    mail_of[MailId(m)] = m;
  }
  CHECK(mailed == all);

  // Per-team recipients, filterable subjects, readable Slack text.
  std::map<std::uint64_t, nlohmann::json> hook_of;
  for (const auto& r : webhook.Records()) hook_of[r["json"]["seq"]] = r["json"];
  int streak_alerts = 0;
  int recoveries = 0;
  for (std::uint64_t seq : all) {
    const auto& j = hook_of[seq];
    const auto team = j.contains("run") ? j["run"]["team"].get<int>() : j["team"].get<int>();
    CHECK(mail_of[seq]["to"] == nlohmann::json::array({team == 1 ? "team1@example.com" : "ops@example.com"}));
    if (j["topic"] == "alert.consecutive_failures") ++streak_alerts;
    if (j["topic"] == "alert.recovered") ++recoveries;
    if (j["topic"] == "run.failed") {
      const std::string subject = "Subject: [daybreak] team 2 run " + j["run"]["run_id"].get<std::string>() + " failed";
      CHECK(mail_of[seq]["data"].get<std::string>().find(subject) != std::string::npos);
    }
  }
  CHECK(streak_alerts == 1);
  CHECK(recoveries == 1);
  bool slack_failed = false;
  for (const auto& r : slack.Records()) {
    const std::string text = r["json"]["text"];
    if (text.find("failed*") != std::string::npos && text.find("team 2") != std::string::npos) {
      slack_failed = text.find("attempt: 1 of 1") != std::string::npos && text.find("pdate: ") != std::string::npos;
    }
  }
  CHECK(slack_failed);
  // And the log sink, one line per event.
  const std::string log = testing::ReadFile(notifier.log());
  for (std::uint64_t seq : all) CHECK(log.find("seq=" + std::to_string(seq) + " ") != std::string::npos);
}

TEST_CASE("SIGHUP moves the notifier to the sinks the file names now; a file that does not load keeps them") {
  Cluster cluster(Options());
  testing::TempDir dir;
  Receiver first(dir, "first");
  Receiver second(dir, "second");
  auto webhook_to = [](const Receiver& r) {
    return fmt::format("[notifier.webhook]\nurl = \"{}\"\nevents = [\"run.failed\"]\n", r.url());
  };
  NotifierUnderTest notifier(cluster, webhook_to(first));
  notifier.Start();
  AddTeam(cluster, 1, "/bin/false");
  auto failed_seqs = [&] {
    return Seqs(AllEvents(cluster), [](const std::string& t) { return t == "run.failed"; });
  };
  RunAndWait(cluster, 1);
  const auto one = failed_seqs();
  REQUIRE(one.size() == 1);
  CHECK(first.WaitFor([&](const auto& r) { return Distinct(HttpIds(r)) == one; }, 20s).size() >= 1);

  notifier.Rewrite(webhook_to(second));
  notifier.Signal(SIGHUP);
  REQUIRE(testing::WaitForText(notifier.log(), "SIGHUP: reloaded " + notifier.config()));
  RunAndWait(cluster, 1);
  const auto two = failed_seqs();
  REQUIRE(two.size() == 2);
  const std::uint64_t newest = *two.rbegin();
  CHECK(second.WaitFor([&](const auto& r) { return HttpIds(r).count(newest) > 0; }, 20s).size() >= 1);

  // Not TOML: the second webhook stays, and the log says why.
  notifier.Rewrite("[notifier.webhook\nurl = \n");
  notifier.Signal(SIGHUP);
  REQUIRE(testing::WaitForText(notifier.log(), "not reloaded, the running configuration stays"));
  RunAndWait(cluster, 1);
  const std::uint64_t third = *failed_seqs().rbegin();
  CHECK(second.WaitFor([&](const auto& r) { return HttpIds(r).count(third) > 0; }, 20s).size() >= 1);
  // The first webhook had only what came before the reload.
  CHECK(Distinct(HttpIds(first.Records())) == one);
}

TEST_CASE("a notifier killed with -9 during 500 failures delivers every one after its restart") {
  Cluster cluster(Options());
  testing::TempDir dir;
  Receiver webhook(dir, "webhook");
  NotifierUnderTest notifier(cluster, fmt::format(R"(
[notifier.webhook]
url = "{}"
events = ["run.failed"]
)", webhook.url()));
  notifier.Start();
  constexpr int kTeams = 10;
  constexpr int kRuns = 500;
  for (std::uint32_t team = 1; team <= kTeams; ++team) AddTeam(cluster, team, "/bin/false");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) cluster.Trigger(1 + i % kTeams, "kill9:" + std::to_string(i));

  // Kill it mid-stream, leave it down a moment while failures go on, restart.
  const auto before = webhook.WaitFor([](const auto& r) { return Distinct(HttpIds(r)).size() >= 100; }, 60s);
  REQUIRE(Distinct(HttpIds(before)).size() >= 100);
  notifier.Kill9();
  const std::size_t at_kill = Distinct(HttpIds(webhook.Records())).size();
  std::this_thread::sleep_for(1s);
  notifier.Start();

  const auto after = webhook.WaitFor([&](const auto& r) { return Distinct(HttpIds(r)).size() >= kRuns; }, 120s);
  const auto ids = HttpIds(after);
  const auto failed = Seqs(AllEvents(cluster), [](const std::string& t) { return t == "run.failed"; });
  MESSAGE("500 failures delivered in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - start).count()
                                       << " ms; killed after " << at_kill << ", "
                                       << ids.size() - Distinct(ids).size() << " duplicates");
  CHECK(failed.size() == kRuns);
  CHECK(Distinct(ids) == failed);
  // Repeats only for the events in flight when it died: at most one batch of
  // the webhook's own cursor (kPersistEvery) plus the one being posted.
  CHECK(ids.size() - Distinct(ids).size() <= 9);
}

TEST_CASE("a sink that stays down does not delay the others, and its losses are counted") {
  Cluster cluster(Options());
  testing::TempDir dir;
  Receiver slack(dir, "slack", {"--status", "500", "--fail-first", "-1"});
  Receiver webhook(dir, "webhook");
  NotifierUnderTest notifier(cluster, fmt::format(R"(
[notifier]
retry_initial_s = 0.2
retry_max_s = 1
retry_budget_s = 2

[notifier.slack]
url = "{}"

[notifier.webhook]
url = "{}"
events = ["run.failed"]
)", slack.url(), webhook.url()));
  notifier.Start();
  AddTeam(cluster, 2, "/bin/false");
  for (int i = 0; i < 5; ++i) {
    const auto run = cluster.Trigger(2);
    cluster.WaitForTerminal(run.run_id);
    // Each failure reaches the webhook promptly while Slack is failing.
    const auto got = webhook.WaitFor([&](const auto& r) { return r.size() >= static_cast<std::size_t>(i + 1); }, 5s);
    REQUIRE(got.size() == static_cast<std::size_t>(i + 1));
    const double lag = got.back()["t"].get<double>() -
                       got.back()["json"]["at_unix_ms"].get<double>() / 1000.0;
    CHECK(lag < 1.0);
  }
  // Slack's failures are given up after the 2 s budget, with a log line each.
  const std::string log_path = notifier.log();
  const auto until = std::chrono::steady_clock::now() + 15s;
  std::size_t given_up = 0;
  while (std::chrono::steady_clock::now() < until) {
    const std::string log = testing::ReadFile(log_path);
    given_up = 0;
    for (auto at = log.find("sink slack: gave up"); at != std::string::npos; at = log.find("sink slack: gave up", at + 1)) {
      ++given_up;
    }
    if (given_up >= 5 + 1) break;  // 5 failures and the streak alert
    std::this_thread::sleep_for(100ms);
  }
  CHECK(given_up >= 6);
  CHECK(slack.Records().size() >= 7);  // every one was tried, the first retried
  CHECK(testing::ReadFile(log_path).find("undeliverable so far") != std::string::npos);
}
