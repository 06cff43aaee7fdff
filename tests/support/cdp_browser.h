// CdpBrowser: headless Chromium driven through the DevTools protocol over a
// pipe (--remote-debugging-pipe), so a test can sign in, type and click on a
// real page, not only read the DOM it ends with. Every wait has a deadline:
// a browser that hangs fails the test instead of hanging CI.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

namespace testing {

// A point in the page's viewport, in CSS pixels.
struct PagePoint {
  double x = 0;
  double y = 0;
};

// One page in one headless Chromium with a fresh profile. Failures (no
// chromium, an error reply, a script exception, a deadline) throw
// std::runtime_error, which doctest reports as the test's failure.
class CdpBrowser {
 public:
  static constexpr std::chrono::milliseconds kReplyDeadline{10'000};

  // Starts `chromium` (its stderr to `log_path`) and attaches to a new page.
  explicit CdpBrowser(const std::string& log_path, const std::string& chromium = "/usr/bin/chromium");
  // Kills chromium and every process it started, and removes its profile.
  ~CdpBrowser();
  CdpBrowser(const CdpBrowser&) = delete;
  CdpBrowser& operator=(const CdpBrowser&) = delete;

  // Sends a command to the page's session (or to the browser, with
  // `to_page` false) and returns its result, skipping events meanwhile.
  nlohmann::json Send(const std::string& method, nlohmann::json params = nlohmann::json::object(),
                      bool to_page = true, std::chrono::milliseconds deadline = kReplyDeadline);
  // Loads `url` and returns once its load event fired.
  void Navigate(const std::string& url);
  // The value of `js` in the page (a promise is awaited), as JSON; null
  // for undefined.
  nlohmann::json Evaluate(const std::string& js);
  // Polls `condition` (a JS expression) until it is truthy; false if it
  // still is not at the deadline. REQUIRES: it does not throw in the page.
  bool WaitFor(const std::string& condition, std::chrono::milliseconds deadline);

  // The mouse as a person uses it: a press over the middle of the element
  // `selector` matches (scrolled into view), then a release. Click is both
  // at once; Press and Release let a test hold the button down.
  void Click(const std::string& selector);
  PagePoint Press(const std::string& selector);
  void Release(PagePoint at);
  // Focuses the element `selector` matches and types `text` into it.
  void Type(const std::string& selector, const std::string& text);

  // Writes the whole page as a PNG to `path`.
  void Screenshot(const std::string& path);

  // Dialogs (alert, confirm) are accepted as they open; their messages.
  const std::vector<std::string>& dialogs() const { return dialogs_; }
  // Uncaught exceptions the page's scripts threw.
  const std::vector<std::string>& page_errors() const { return page_errors_; }

 private:
  void Stop();
  void Write(const nlohmann::json& message);
  // The next message, or nullopt at `until`; handles events on the way.
  std::optional<nlohmann::json> Next(std::chrono::steady_clock::time_point until);
  void OnEvent(const nlohmann::json& event);
  PagePoint CenterOf(const std::string& selector);
  void Mouse(const std::string& type, PagePoint at);

  TempDir profile_;
  std::string log_path_;
  pid_t pid_ = -1;
  int to_browser_ = -1;    // chromium reads commands on its fd 3
  int from_browser_ = -1;  // and writes replies and events on its fd 4
  std::string buffer_;     // bytes read but not yet a whole message
  std::int64_t next_id_ = 1;
  std::string session_;
  std::vector<std::string> loaded_;  // loaderIds whose load event fired
  std::vector<std::string> dialogs_;
  std::vector<std::string> page_errors_;
};

}  // namespace testing
