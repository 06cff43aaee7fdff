// The dashboard as a browser shows it: Debian's chromium, headless, loads the
// page from a real cluster's broker, runs its script against the real /api,
// and the DOM it ends with is checked (teams with their next fire, streak
// and last success; runs with their times and reason; the runners; a run's
// own page with the end of its log). A screenshot of each is kept in
// <build>/test-artifacts/ for a person to look at.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "tests/support/cluster.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kChromium = "/usr/bin/chromium";

fs::path Artifacts() {
  const fs::path dir = fs::path(DAYBREAK_BIN_DIR).parent_path() / "test-artifacts";
  fs::create_directories(dir);
  return dir;
}

// What chromium prints with `args` (its stderr goes to `log`); the process
// is killed after 60 s, so a browser that hangs fails the test, not CI.
std::string Chromium(const std::string& args, const fs::path& profile, const fs::path& log) {
  // Root needs --no-sandbox; a fresh profile so no earlier run's state
  // (sessionStorage, cache) is read; virtual time lets the page's fetches
  // and its 2 s refresh run before the DOM is taken.
  const std::string command = std::string("timeout -k 5 60 ") + kChromium +
                              " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                              " --no-first-run --hide-scrollbars --user-data-dir=" + profile.string() +
                              " --virtual-time-budget=6000 " + args + " 2>" + log.string();
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, command);
  std::array<char, 65536> buffer{};
  for (std::size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  CHECK_MESSAGE(status == 0, "chromium exited " << status << "; its log is " << log);
  return out;
}

// The element of `dom` that starts with `open` (e.g. `<tr data-team="3">`), through its closing tag.
std::string Element(const std::string& dom, const std::string& open, const std::string& close) {
  const auto from = dom.find(open);
  if (from == std::string::npos) return "";
  const auto to = dom.find(close, from);
  return dom.substr(from, to == std::string::npos ? std::string::npos : to + close.size() - from);
}

// `text` as the page's esc() writes it, and as the DOM dump prints it (quotes stay as they are in text).
std::string Html(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

bool IsPng(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  in.read(head.data(), head.size());
  return in && std::string(head.data(), 8) == "\x89PNG\r\n\x1a\n";
}

}  // namespace

TEST_CASE("headless chromium: the dashboard shows teams, runs with their reasons, runners and a run's page") {
  REQUIRE_MESSAGE(fs::exists(kChromium), "chromium is not installed (scripts/install-deps installs it)");
  testing::Cluster cluster({.runners = 1, .ticker = false, .notifier = false, .env = {}});
  schemas::TeamRecord credit;
  credit.id = 3;
  credit.name = "credit";
  credit.run_time = "06:30";
  credit.timezone = "Europe/Berlin";
  cluster.AddTeam(credit);
  schemas::TeamRecord chained;
  chained.id = 4;
  chained.name = "reports";
  chained.after = {3};
  cluster.AddTeam(chained);
  schemas::TeamRecord paused;
  paused.id = 5;
  paused.name = "on-hold";
  paused.paused = true;
  cluster.AddTeam(paused);
  schemas::TeamRecord broken;  // no inputs: its run fails, with the reason
  broken.id = 6;
  broken.name = "broken";
  broken.max_attempts = 1;
  cluster.AddTeam(broken);
  cluster.MakeSample(3, 25, "2025-06-02");
  const schemas::RunRecord good = cluster.WaitForTerminal(cluster.Trigger(3).run_id);
  REQUIRE(good.state == schemas::RunState::kSucceeded);
  const schemas::RunRecord bad = cluster.WaitForTerminal(cluster.Trigger(6).run_id);
  REQUIRE(bad.state == schemas::RunState::kFailed);
  REQUIRE_FALSE(bad.error.empty());

  const fs::path out = Artifacts();
  const std::string url = "http://" + cluster.endpoint("http") + "/";
  const std::string dom =
      Chromium("--dump-dom " + url, cluster.root() + "/chromium-1", out / "dashboard-chromium.log");
  {
    std::ofstream(out / "dashboard.html") << dom;
  }
  INFO("the DOM is in " << (out / "dashboard.html"));
  // The page ran its script against the broker: the health line is filled in.
  CHECK(dom.find("broker up · 1 runner(s)") != std::string::npos);
  CHECK(dom.find("read only: no operator token is configured") != std::string::npos);

  const std::string team3 = Element(dom, "<tr data-team=\"3\">", "</tr>");
  REQUIRE_FALSE(team3.empty());
  CHECK(team3.find("credit") != std::string::npos);
  CHECK(team3.find("daily 06:30 Europe/Berlin") != std::string::npos);
  // The next fire is a time (toLocaleString has digits and a colon), not "-".
  CHECK(std::regex_search(Element(team3, "<td class=\"next\">", "</td>"), std::regex(R"(\d{1,2}:\d{2})")));
  CHECK(team3.find("<td class=\"streak\">-</td>") != std::string::npos);
  CHECK(team3.find(good.run_id) != std::string::npos);  // its last run
  CHECK(team3.find("<span class=\"s succeeded\">succeeded</span>") != std::string::npos);
  const std::string team4 = Element(dom, "<tr data-team=\"4\">", "</tr>");
  CHECK(team4.find("<td class=\"next\">after 3</td>") != std::string::npos);
  const std::string team5 = Element(dom, "<tr data-team=\"5\">", "</tr>");
  CHECK(team5.find("<td class=\"next\">paused</td>") != std::string::npos);
  const std::string team6 = Element(dom, "<tr data-team=\"6\">", "</tr>");
  CHECK(team6.find("<td class=\"streak bad\">1 failed</td>") != std::string::npos);
  CHECK(team6.find("<td>-</td>") != std::string::npos);  // no success yet
  // Read-only: no buttons in either table (the script's text has them).
  CHECK(Element(dom, "<table id=\"teams\">", "</table>").find("<button") == std::string::npos);
  CHECK(Element(dom, "<table id=\"runs\">", "</table>").find("<button") == std::string::npos);

  const std::string failed = Element(dom, "<tr data-run=\"" + bad.run_id + "\">", "</tr>");
  REQUIRE_FALSE(failed.empty());
  CHECK(failed.find("<span class=\"s failed\">failed</span>") != std::string::npos);
  CHECK_MESSAGE(failed.find(Html(bad.error)) != std::string::npos, "error: " << bad.error);
  // Under it, the last line the pipeline wrote to stderr: why.
  REQUIRE_FALSE(bad.stderr_tail.empty());
  std::string tail = bad.stderr_tail.substr(0, bad.stderr_tail.find_last_not_of("\n") + 1);
  tail = tail.substr(tail.rfind('\n') == std::string::npos ? 0 : tail.rfind('\n') + 1).substr(0, 60);
  CHECK_MESSAGE(failed.find("<small>" + Html(tail)) != std::string::npos, "tail: " << bad.stderr_tail);
  const std::string succeeded = Element(dom, "<tr data-run=\"" + good.run_id + "\">", "</tr>");
  CHECK(std::regex_search(succeeded, std::regex(R"(<td>\d+\.\d s</td>)")));  // its duration

  const std::string runners = Element(dom, "<table id=\"runners\">", "</table>");
  CHECK(runners.find("runner-1") != std::string::npos);
  CHECK(runners.find("0 of ") != std::string::npos);  // nothing held now
  CHECK(runners.find("s ago") != std::string::npos);

  // The failed run's own page (where Slack's button links): its reason and log tail.
  const std::string detail = Chromium("--dump-dom '" + url + "#run=" + bad.run_id + "'",
                                      cluster.root() + "/chromium-2", out / "run-chromium.log");
  const std::string section = Element(detail, "<section id=\"run\"", "</section>");
  CHECK(section.find("hidden") == std::string::npos);
  CHECK(section.find(bad.run_id) != std::string::npos);
  CHECK(section.find("<span class=\"s failed\">failed</span>") != std::string::npos);
  CHECK(section.find("Reason (the end of its log)") != std::string::npos);
  CHECK(section.find(Html(tail)) != std::string::npos);

  // The good run's page names the tape it read.
  const std::string good_page = Chromium("--dump-dom '" + url + "#run=" + good.run_id + "'",
                                         cluster.root() + "/chromium-3", out / "good-run-chromium.log");
  REQUIRE(good.inputs.count("loan_tape") == 1);
  CHECK(Element(good_page, "<section id=\"run\"", "</section>").find("loan_tape <code>" + Html(good.inputs.at("loan_tape"))) != std::string::npos);

  // Screenshots for a person (CI keeps build/test-artifacts).
  for (const auto& [name, page] : {std::pair{"dashboard.png", url}, std::pair{"run.png", url + "#run=" + bad.run_id}}) {
    const fs::path shot = out / name;
    fs::remove(shot);
    Chromium("--window-size=1400,1000 --screenshot=" + shot.string() + " '" + page + "'",
             cluster.root() + "/chromium-shot-" + name, out / (std::string(name) + "-chromium.log"));
    CHECK_MESSAGE(IsPng(shot), shot);
    CHECK(fs::file_size(shot) > 10'000);
    MESSAGE("screenshot: " << shot);
  }
}
