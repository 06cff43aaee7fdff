// The dashboard's buttons, used as an operator uses them: headless chromium,
// driven over the DevTools protocol (tests/support/cdp_browser.h), loads the
// page from a real cluster's broker, signs in by typing the operator token,
// and clicks trigger, pause, resume and cancel (answering the page's
// confirm() through the protocol's dialog events). What each click did is
// checked through the control API, not only on the page. A screenshot is
// kept in <build>/test-artifacts/ for a person to look at.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/cdp_browser.h"
#include "tests/support/cluster.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kToken = "dashboard-operator-token-0123";
constexpr const char* kWrongToken = "not-the-operator-token-0000";
constexpr std::uint32_t kQuick = 1;  // its pipeline exits at once
constexpr std::uint32_t kSlow = 2;   // its pipeline sleeps 30 s, to be cancelled
// Any button in the two tables an operator acts from.
constexpr const char* kButtons = "document.querySelectorAll('#teams button, #runs button').length";

fs::path Artifacts() {
  const fs::path dir = fs::path(DAYBREAK_BIN_DIR).parent_path() / "test-artifacts";
  fs::create_directories(dir);
  return dir;
}

bool IsPng(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  in.read(head.data(), head.size());
  return in && std::string(head.data(), 8) == "\x89PNG\r\n\x1a\n";
}

// A cluster with the operator token set and two teams that need no inputs.
std::unique_ptr<testing::Cluster> ClusterWithToken() {
  auto cluster = std::make_unique<testing::Cluster>(testing::ClusterOptions{
      .runners = 1, .ticker = false, .notifier = false, .env = {{"DAYBREAK_HTTP_OPERATOR_TOKEN", kToken}}});
  schemas::TeamRecord quick;
  quick.id = kQuick;
  quick.name = "quick";
  quick.command = {"/bin/sh", "-c", "exit 0"};
  quick.max_attempts = 1;
  cluster->AddTeam(quick);
  schemas::TeamRecord slow;
  slow.id = kSlow;
  slow.name = "slow";
  slow.command = {"/bin/sh", "-c", "sleep 30"};
  slow.max_attempts = 1;
  cluster->AddTeam(slow);
  return cluster;
}

std::string Url(testing::Cluster& cluster) { return "http://" + cluster.endpoint("http") + "/"; }

std::string Text(testing::CdpBrowser& browser, const std::string& selector) {
  const Json text = browser.Evaluate("document.querySelector(" + Json(selector).dump() + ")?.textContent ?? ''");
  return text.get<std::string>();
}

// The team as the broker has it now.
schemas::TeamRecord TeamOf(testing::Cluster& cluster, std::uint32_t id) {
  schemas::ControlRequest list;
  list.op = "teams.list";
  auto reply = cluster.Call(list);
  REQUIRE_MESSAGE(reply.ok(), reply.status().message());
  for (const schemas::TeamRecord& team : reply.value().teams) {
    if (team.id == id) return team;
  }
  FAIL("team " << id << " is not in teams.list");
  return {};
}

// The id of the newest run of `team` in the page's runs table ("" if none).
std::string RunInTable(testing::CdpBrowser& browser, std::uint32_t team) {
  const Json id = browser.Evaluate(
      "[...document.querySelectorAll('#runs tbody tr[data-run]')].find(r => r.children[1].textContent === '" +
      std::to_string(team) + "')?.dataset.run ?? ''");
  return id.get<std::string>();
}

// Counts the page's refreshes: each one rewrites the health line.
void CountRefreshes(testing::CdpBrowser& browser) {
  browser.Evaluate(
      "window.refreshes = 0; new MutationObserver(() => window.refreshes++)"
      ".observe(document.getElementById('health'), {childList: true, subtree: true, characterData: true})");
}

bool WaitForRefresh(testing::CdpBrowser& browser) {
  const int seen = browser.Evaluate("window.refreshes").get<int>();
  return browser.WaitFor("window.refreshes > " + std::to_string(seen), 5s);
}

// What a person would read on the page now, for a failure's message.
std::string PageText(testing::CdpBrowser& browser) {
  return browser.Evaluate("document.body.innerText").get<std::string>();
}

// Waits until `condition` holds in the page; the test stops if it never does.
void Expect(testing::CdpBrowser& browser, const std::string& condition,
            std::chrono::milliseconds deadline = 10s) {
  const bool held = browser.WaitFor(condition, deadline);
  REQUIRE_MESSAGE(held, "waited for " << condition << "\nthe page says:\n" << PageText(browser));
}

void SignIn(testing::CdpBrowser& browser, const std::string& token) {
  Expect(browser, "document.getElementById('signin')");
  browser.Type("#token", token);
  browser.Click("#signin");
}

}  // namespace

TEST_CASE("headless chromium: an operator signs in, then triggers, pauses, resumes and cancels from the dashboard") {
  const auto cluster_owner = ClusterWithToken();
  testing::Cluster& cluster = *cluster_owner;
  const fs::path out = Artifacts();
  testing::CdpBrowser browser((out / "dashboard-actions-chromium.log").string());
  browser.Navigate(Url(cluster));
  CountRefreshes(browser);

  // Before signing in: a sign-in box, our teams listed (and the general team), and no buttons.
  Expect(browser, "document.getElementById('token') && document.querySelector(\"#teams tr[data-team='2']\")");
  CHECK(browser.Evaluate(kButtons) == 0);

  SignIn(browser, kToken);
  Expect(browser, "document.getElementById('signout') && document.querySelectorAll('#teams button[data-act=run]').length === 3");
  CHECK(Text(browser, "#access").find("signed in with the operator token") != std::string::npos);
  CHECK(browser.Evaluate("sessionStorage.getItem('daybreak-token')") == kToken);

  // Trigger: the new run shows in the table, and the broker has it, as asked for by the dashboard.
  browser.Click("button[data-act=run][data-team='1']");
  Expect(browser, "document.getElementById('flash').textContent.startsWith('run 1: done')");
  Expect(browser, "document.querySelector('#runs tbody tr[data-run]')");
  const std::string run_id = RunInTable(browser, kQuick);
  REQUIRE_FALSE(run_id.empty());
  CHECK(Text(browser, "#flash").find(run_id) != std::string::npos);
  schemas::ControlRequest runs;
  runs.op = "runs.list";
  runs.limit = 100;
  auto listed = cluster.Call(runs);
  REQUIRE(listed.ok());
  REQUIRE(listed.value().runs.size() == 1);
  CHECK(listed.value().runs[0].run_id == run_id);
  CHECK(listed.value().runs[0].team == kQuick);
  CHECK(listed.value().runs[0].requested_by == "dashboard:operator at 127.0.0.1");
  // Its row, and team 1's, are drawn for the last time once it is over: no
  // redraw can then replace the pause button between press and release.
  Expect(browser, "document.querySelector(\"#runs tr[data-run='" + run_id + "'] .s.succeeded\")");

  // Pause, then resume: the button flips, and the broker's record follows (the rest of it kept).
  browser.Click("button[data-act=pause][data-team='1']");
  Expect(browser, "document.querySelector(\"#teams tr[data-team='1'] button[data-act=resume]\")");
  CHECK(Text(browser, "#flash") == "pause 1: done");
  CHECK(Text(browser, "#teams tr[data-team='1'] td.next") == "paused");
  const schemas::TeamRecord paused = TeamOf(cluster, kQuick);
  CHECK(paused.paused);
  CHECK(paused.command == std::vector<std::string>{"/bin/sh", "-c", "exit 0"});
  CHECK_FALSE(TeamOf(cluster, kSlow).paused);
  browser.Click("button[data-act=resume][data-team='1']");
  Expect(browser, "document.querySelector(\"#teams tr[data-team='1'] button[data-act=pause]\")");
  CHECK(Text(browser, "#flash") == "resume 1: done");
  CHECK_FALSE(TeamOf(cluster, kQuick).paused);

  // Cancel a running pipeline: the page asks first (accepted by CdpBrowser), and the run ends cancelled.
  browser.Click("button[data-act=run][data-team='2']");
  Expect(browser, "document.getElementById('flash').textContent.startsWith('run 2: done')");
  Expect(browser, "document.querySelectorAll('#runs tbody tr[data-run]').length === 2");
  const std::string slow_id = RunInTable(browser, kSlow);
  REQUIRE_FALSE(slow_id.empty());
  const schemas::RunRecord running =
      cluster.WaitForRun(slow_id, [](const schemas::RunRecord& r) { return r.state == schemas::RunState::kRunning; }, 10s);
  REQUIRE(running.state == schemas::RunState::kRunning);
  const std::string row = "#runs tr[data-run='" + slow_id + "']";
  const std::string cancel = row + " button[data-act=cancel]";
  Expect(browser, "document.querySelector(" + Json(row + " .s.running").dump() + ") && document.querySelector(" +
                      Json(cancel).dump() + ")");
  CHECK(browser.dialogs().empty());
  browser.Click(cancel);
  const schemas::RunRecord ended = cluster.WaitForTerminal(slow_id, 10s);
  CHECK(ended.state == schemas::RunState::kCancelled);
  CHECK(browser.dialogs() == std::vector<std::string>{"Cancel " + slow_id + "?"});
  CHECK(ended.requested_by == "dashboard:operator at 127.0.0.1");  // who triggered it
  Expect(browser, "document.querySelector(" + Json(row + " .s.cancelled").dump() + ")");
  CHECK(browser.Evaluate("document.querySelector(" + Json(cancel).dump() + ")") == nullptr);
  CHECK(Text(browser, "#flash").starts_with("cancel " + slow_id + ": done"));

  // A screenshot for a person (CI keeps build/test-artifacts): signed in, after the actions.
  const fs::path shot = out / "dashboard-actions.png";
  fs::remove(shot);
  browser.Screenshot(shot.string());
  CHECK_MESSAGE(IsPng(shot), shot);
  CHECK(fs::file_size(shot) > 10'000);
  MESSAGE("screenshot: " << shot);

  // Signed out, a wrong token is refused on the page and shows no buttons.
  browser.Click("#signout");
  SignIn(browser, kWrongToken);
  Expect(browser, "document.getElementById('access').textContent.includes('that token was not accepted')");
  REQUIRE(WaitForRefresh(browser));  // the tables were drawn again since
  CHECK(browser.Evaluate(kButtons) == 0);
  CHECK(browser.Evaluate("document.getElementById('signout')") == nullptr);
  CHECK(browser.Evaluate("document.getElementById('token') !== null") == true);  // to try again

  CHECK_MESSAGE(browser.page_errors().empty(), "the page threw: " << Json(browser.page_errors()).dump());
}

// Issue 14: the page redrew both tables on every 2 s poll, even when nothing
// had changed, so a button pressed before a poll and released after it was a
// new element: the click went nowhere. A person's click lasts 50-150 ms,
// so roughly one in twenty straddled a poll. Here the press is held across one.
TEST_CASE("issue 14: a dashboard button held down across the page's refresh still acts when released") {
  const auto cluster_owner = ClusterWithToken();
  testing::Cluster& cluster = *cluster_owner;
  testing::CdpBrowser browser((Artifacts() / "dashboard-slow-click-chromium.log").string());
  browser.Navigate(Url(cluster));
  SignIn(browser, kToken);
  Expect(browser, "document.querySelector(\"#teams tr[data-team='1'] button[data-act=pause]\")");
  CountRefreshes(browser);
  REQUIRE(WaitForRefresh(browser));  // drawn signed in, with the buttons

  const testing::PagePoint at = browser.Press("button[data-act=pause][data-team='1']");
  REQUIRE(WaitForRefresh(browser));
  browser.Release(at);
  Expect(browser, "document.getElementById('flash').textContent === 'pause 1: done'", 5s);
  CHECK(TeamOf(cluster, kQuick).paused);
}
