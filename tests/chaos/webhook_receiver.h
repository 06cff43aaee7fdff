// WebhookReceiver: an HTTP server in the chaos process that the real
// notifier posts every event to. It keeps each event once by its
// `event_id` (delivery is at least once), so the checks read what people
// would have been told, not the broker's records.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace chaos {

// One delivered event (run events only carry the run fields).
struct Notice {
  std::uint64_t event_id = 0;  // the seq part of the event id
  std::string incarnation;     // and its store incarnation
  std::string topic;
  std::string event;  // "completed", ...
  std::string run_id;
  std::string key;
  std::string state;
  std::string kind;
  std::uint32_t team = 0;
  std::uint32_t attempt = 0;
  std::string error;  // the run's, for the report
};

class WebhookReceiver {
 public:
  // Listens on 127.0.0.1 on a free port; throws if it cannot.
  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::string url() const { return url_; }
  // Waits until every event id 1..last_seq arrived, or the deadline;
  // returns whether they all did.
  bool WaitForAll(std::uint64_t last_seq, std::chrono::milliseconds deadline);
  // Waits up to `wait` for any new delivery; returns the count of
  // terminal run notices so far.
  std::size_t WaitForChange(std::chrono::milliseconds wait);

  // Snapshots, by event id.
  std::map<std::uint64_t, Notice> notices() const;
  std::uint64_t deliveries() const;   // POSTs, repeats included
  std::uint64_t repeats() const;      // POSTs of an event id already seen
  std::uint64_t conflicts() const;    // a repeat whose body differed
  std::uint64_t malformed() const;    // bodies that were not an event

 private:
  void Handle(const std::string& body);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::uint64_t, Notice> notices_;
  std::map<std::uint64_t, std::string> bodies_;
  std::size_t terminal_ = 0;
  std::uint64_t contiguous_ = 0;  // every id 1..contiguous_ arrived
  std::uint64_t deliveries_ = 0, repeats_ = 0, conflicts_ = 0, malformed_ = 0;
};

}  // namespace chaos
