// Real receivers on loopback for notifier tests: an HTTP server that records
// every POST (and can answer 500 or 429 with Retry-After) and an SMTP server
// (aiosmtpd), both Python processes started and killed by the test.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/cluster.h"
#include "tests/support/temp_dir.h"

namespace testing {

// The seq in an event id "<incarnation>:<seq>" (or a bare "<seq>").
inline std::uint64_t SeqOfEventId(const std::string& id) {
  const std::size_t colon = id.rfind(':');
  return std::stoull(colon == std::string::npos ? id : id.substr(colon + 1));
}

class Receiver {
 public:
  // `smtp`: aiosmtpd; else the HTTP receiver. `args` go to the script
  // (e.g. {"--status", "429", "--fail-first", "1", "--retry-after", "2"}).
  Receiver(const TempDir& dir, const std::string& name, std::vector<std::string> args = {},
           bool smtp = false)
      : log_(dir.Sub(name + ".jsonl")), smtp_(smtp) {
    const std::string port_file = dir.Sub(name + ".port");
    std::vector<std::string> argv = {
        "/usr/bin/python3",
        std::string(DAYBREAK_SOURCE_DIR) + (smtp ? "/tests/notifier/smtp_receiver.py"
                                                  : "/tests/notifier/http_receiver.py"),
        "--port-file", port_file, "--log", log_};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<TestProcess>(argv, std::vector<std::string>{"PATH=/usr/bin:/bin"},
                                             dir.Sub(name + ".out"));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      const std::string text = ReadFile(port_file);
      if (!text.empty()) {
        port_ = std::stoi(text);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waiting for the server
    }
    throw std::runtime_error(name + " receiver did not start; see " + dir.Sub(name + ".out"));
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return (smtp_ ? "smtp://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) +
           (smtp_ ? "" : path);
  }

  // Every request (HTTP) or message (SMTP) so far, oldest first.
  std::vector<nlohmann::json> Records() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(ReadFile(log_));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));  // a half-written last line
    }
    return out;
  }

  // Polls Records() until `done` or the deadline; returns the last records.
  std::vector<nlohmann::json> WaitFor(
      const std::function<bool(const std::vector<nlohmann::json>&)>& done,
      std::chrono::milliseconds deadline = std::chrono::seconds(20)) const {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      auto records = Records();
      if (done(records) || std::chrono::steady_clock::now() >= until) return records;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));  // polling the receiver's log
    }
  }

 private:
  std::string log_;
  bool smtp_;
  int port_ = 0;
  std::unique_ptr<TestProcess> process_;
};

}  // namespace testing
