#include "tests/support/cdp_browser.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string_view>

namespace testing {

namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// Moves `fd` to 10 or above, close-on-exec: the child's dup2 onto 3 and 4
// must not clobber a pipe end that happens to be 3 or 4 itself.
int High(int fd) {
  const int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  if (high < 0) throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  return high;
}

std::string Base64Decode(const std::string& text) {
  static constexpr std::string_view kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned int bits = 0;
  int count = 0;
  for (char c : text) {
    const auto v = kDigits.find(c);
    if (v == std::string_view::npos) continue;  // '=' padding carries no bits
    bits = (bits << 6) | static_cast<unsigned int>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

}  // namespace

CdpBrowser::CdpBrowser(const std::string& log_path, const std::string& chromium) : log_path_(log_path) {
  if (access(chromium.c_str(), X_OK) != 0) throw std::runtime_error(chromium + " is not installed");
  int commands[2];
  int replies[2];
  if (pipe(commands) != 0 || pipe(replies) != 0) throw std::runtime_error("pipe failed");
  for (int* fd : {&commands[0], &commands[1], &replies[0], &replies[1]}) *fd = High(*fd);
  std::vector<std::string> args = {
      chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--hide-scrollbars", "--window-size=1400,1000", "--user-data-dir=" + profile_.path().string(),
      "--remote-debugging-pipe"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot write " + log_path);
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec. Its own process
    // group, so the destructor can kill the renderers and helpers too.
    setpgid(0, 0);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    dup2(commands[0], 3);
    dup2(replies[1], 4);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid_ > 0) setpgid(pid_, pid_);  // no race with a kill before the child ran
  close(log);
  close(null);
  close(commands[0]);
  close(replies[1]);
  to_browser_ = commands[1];
  from_browser_ = replies[0];
  // Our end only: a browser that stops reading must not block a write forever.
  fcntl(to_browser_, F_SETFL, O_NONBLOCK);
  try {
    if (pid_ < 0) throw std::runtime_error("fork failed");
    // Chromium answers once it is up; a cold start can take a few seconds.
    const Json target = Send("Target.createTarget", {{"url", "about:blank"}}, false, std::chrono::seconds(20));
    const Json attached =
        Send("Target.attachToTarget", {{"targetId", target.at("targetId")}, {"flatten", true}}, false);
    session_ = attached.at("sessionId").get<std::string>();
    Send("Page.enable");
    Send("Page.setLifecycleEventsEnabled", {{"enabled", true}});
    Send("Runtime.enable");
  } catch (...) {
    Stop();  // no destructor runs for an object whose constructor threw
    throw;
  }
}

CdpBrowser::~CdpBrowser() { Stop(); }

void CdpBrowser::Stop() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  for (int* fd : {&to_browser_, &from_browser_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void CdpBrowser::Write(const Json& message) {
  const std::string bytes = message.dump() + '\0';
  // A browser that died would raise SIGPIPE and end the whole test binary;
  // block it for this write and take back any it raised, so the error is
  // this test's failure instead.
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const auto until = SteadyClock::now() + kReplyDeadline;
  std::size_t done = 0;
  int error = 0;
  while (done < bytes.size() && error == 0) {
    const ssize_t n = write(to_browser_, bytes.data() + done, bytes.size() - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN) {  // the pipe is full: wait, but not forever
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - SteadyClock::now()).count();
      pollfd item{to_browser_, POLLOUT, 0};
      if (left <= 0 || poll(&item, 1, static_cast<int>(left)) == 0) error = ETIMEDOUT;
    } else if (errno != EINTR) {
      error = errno;
    }
  }
  if (error == EPIPE) {
    const timespec zero{};
    sigtimedwait(&pipe_only, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (error != 0) throw std::runtime_error("writing to chromium: " + std::string(std::strerror(error)) + "; see " + log_path_);
}

std::optional<Json> CdpBrowser::Next(SteadyClock::time_point until) {
  while (true) {
    if (const auto end = buffer_.find('\0'); end != std::string::npos) {
      Json message = Json::parse(buffer_.substr(0, end), nullptr, /*allow_exceptions=*/false);
      buffer_.erase(0, end + 1);
      if (message.is_discarded()) throw std::runtime_error("chromium sent a message that is not JSON");
      if (!message.contains("id")) OnEvent(message);
      return message;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - SteadyClock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd item{from_browser_, POLLIN, 0};
    const int ready = poll(&item, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (ready == 0) continue;  // the deadline is checked above
    char chunk[65536];
    const ssize_t n = read(from_browser_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("chromium closed its pipe (did it exit?); see " + log_path_);
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

void CdpBrowser::OnEvent(const Json& event) {
  const std::string method = event.value("method", "");
  const Json params = event.value("params", Json::object());
  if (method == "Page.javascriptDialogOpening") {
    // The page waits inside confirm() until this is answered, so it is
    // answered here, whatever command the test is waiting on.
    dialogs_.push_back(params.value("message", ""));
    Json handle = {{"id", next_id_++}, {"method", "Page.handleJavaScriptDialog"}, {"params", {{"accept", true}}}};
    if (event.contains("sessionId")) handle["sessionId"] = event["sessionId"];
    Write(handle);
  } else if (method == "Page.lifecycleEvent" && params.value("name", "") == "load") {
    loaded_.push_back(params.value("loaderId", ""));
  } else if (method == "Runtime.exceptionThrown") {
    const Json details = params.value("exceptionDetails", Json::object());
    const Json exception = details.value("exception", Json::object());
    page_errors_.push_back(exception.value("description", details.value("text", "?")));
  }
}

Json CdpBrowser::Send(const std::string& method, Json params, bool to_page, std::chrono::milliseconds deadline) {
  const std::int64_t id = next_id_++;
  Json message = {{"id", id}, {"method", method}, {"params", std::move(params)}};
  if (to_page) message["sessionId"] = session_;
  Write(message);
  const auto until = SteadyClock::now() + deadline;
  while (true) {
    const std::optional<Json> reply = Next(until);
    if (!reply) throw std::runtime_error(method + ": no reply from chromium in time; see " + log_path_);
    if (reply->value("id", std::int64_t{-1}) != id) continue;  // an event, or a reply nobody waits for
    if (reply->contains("error")) throw std::runtime_error(method + ": " + reply->at("error").dump());
    return reply->value("result", Json::object());
  }
}

void CdpBrowser::Navigate(const std::string& url) {
  const Json result = Send("Page.navigate", {{"url", url}});
  if (!result.value("errorText", "").empty()) throw std::runtime_error(url + ": " + result["errorText"].dump());
  // The load event of this navigation (its loaderId), not the blank page's.
  const std::string loader = result.value("loaderId", "");
  if (loader.empty()) return;  // the same document (a #fragment): nothing loads
  const auto until = SteadyClock::now() + kReplyDeadline;
  while (std::find(loaded_.begin(), loaded_.end(), loader) == loaded_.end()) {
    if (!Next(until)) throw std::runtime_error(url + ": did not load in time");
  }
}

Json CdpBrowser::Evaluate(const std::string& js) {
  const Json result =
      Send("Runtime.evaluate", {{"expression", js}, {"returnByValue", true}, {"awaitPromise", true}});
  if (result.contains("exceptionDetails")) {
    const Json& details = result["exceptionDetails"];
    const Json exception = details.value("exception", Json::object());
    throw std::runtime_error("in the page: " + exception.value("description", details.value("text", "?")) +
                             "\nevaluating: " + js);
  }
  return result.value("result", Json::object()).value("value", Json());
}

bool CdpBrowser::WaitFor(const std::string& condition, std::chrono::milliseconds deadline) {
  const auto until = SteadyClock::now() + deadline;
  while (true) {
    if (Evaluate("Boolean(" + condition + ")") == true) return true;
    if (SteadyClock::now() >= until) return false;
    // Between polls, listen to the browser (a dialog may need an answer)
    // for at most 50 ms.
    const auto slice = std::min(until, SteadyClock::now() + std::chrono::milliseconds(50));
    while (Next(slice)) {
    }
  }
}

PagePoint CdpBrowser::CenterOf(const std::string& selector) {
  // Scrolled into view, and the element is what a click there would hit
  // (not under something else), or the click would go to another element.
  const Json at = Evaluate("(() => { const e = document.querySelector(" + Json(selector).dump() +
                           "); if (!e) return null; e.scrollIntoView({block: 'center', inline: 'center'});"
                           " const r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;"
                           " return {x, y, hit: e.contains(document.elementFromPoint(x, y))}; })()");
  if (at.is_null()) throw std::runtime_error("no element matches " + selector);
  if (!at.value("hit", false)) throw std::runtime_error(selector + " is covered by another element");
  return {at.at("x").get<double>(), at.at("y").get<double>()};
}

void CdpBrowser::Mouse(const std::string& type, PagePoint at) {
  const bool moved = type == "mouseMoved";
  Send("Input.dispatchMouseEvent", {{"type", type},
                                    {"x", at.x},
                                    {"y", at.y},
                                    {"button", moved ? "none" : "left"},
                                    {"buttons", type == "mousePressed" ? 1 : 0},
                                    {"clickCount", moved ? 0 : 1}});
}

PagePoint CdpBrowser::Press(const std::string& selector) {
  const PagePoint at = CenterOf(selector);
  Mouse("mouseMoved", at);
  Mouse("mousePressed", at);
  return at;
}

void CdpBrowser::Release(PagePoint at) { Mouse("mouseReleased", at); }

void CdpBrowser::Click(const std::string& selector) { Release(Press(selector)); }

void CdpBrowser::Type(const std::string& selector, const std::string& text) {
  const Json focused = Evaluate("(() => { const e = document.querySelector(" + Json(selector).dump() +
                                "); if (!e) return false; e.focus(); return document.activeElement === e; })()");
  if (focused != true) throw std::runtime_error("cannot focus " + selector);
  Send("Input.insertText", {{"text", text}});
}

void CdpBrowser::Screenshot(const std::string& path) {
  const Json shot = Send("Page.captureScreenshot", {{"format", "png"}, {"captureBeyondViewport", true}});
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << Base64Decode(shot.at("data").get<std::string>());
  if (!out) throw std::runtime_error("could not write " + path);
}

}  // namespace testing
