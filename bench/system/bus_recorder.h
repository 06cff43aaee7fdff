// BusRecorder: a subscriber on the broker's bus that timestamps every frame
// it receives on its own thread, so a benchmark can publish from the main
// thread and learn afterwards when each run event arrived.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace bench {

struct Received {
  std::int64_t steady_ns = 0;  // steady_clock at receipt
  std::string topic;
  std::string payload;
};

std::int64_t SteadyNs();

class BusRecorder {
 public:
  // Subscribes to `prefixes` on `subscribe_endpoint`, then publishes probes
  // on `publisher` (a connected PUB) until one comes back, so both the
  // subscription and the publisher's path through the broker are live when
  // the constructor returns. Throws if that takes over 10 s.
  // `context` and `publisher` must outlive the recorder.
  BusRecorder(zmq::context_t& context, const std::string& subscribe_endpoint,
              zmq::socket_t& publisher, const std::vector<std::string>& prefixes);
  ~BusRecorder();
  BusRecorder(const BusRecorder&) = delete;
  BusRecorder& operator=(const BusRecorder&) = delete;

  // Frames received so far on "run.completed" / "run.failed" / "due.ack".
  std::uint64_t completed() const { return completed_.load(); }
  std::uint64_t failed() const { return failed_.load(); }
  std::uint64_t acks() const { return acks_.load(); }
  // A copy of the frames received from index `from` on.
  std::vector<Received> Since(std::size_t from);
  // Stops the thread and returns everything received.
  std::vector<Received> Finish();

 private:
  void Loop();

  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> acks_{0};
  std::mutex mu_;
  std::vector<Received> received_;  // guarded by mu_
};

}  // namespace bench
