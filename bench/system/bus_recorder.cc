#include "bench/system/bus_recorder.h"

#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "common/zmq_util.h"

namespace bench {

std::int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

BusRecorder::BusRecorder(zmq::context_t& context, const std::string& subscribe_endpoint,
                         zmq::socket_t& publisher, const std::vector<std::string>& prefixes)
    : socket_(context, zmq::socket_type::sub) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::rcvhwm, 0);  // never drop: we count every event
  socket_.set(zmq::sockopt::rcvbuf, 4 << 20);
  for (const std::string& p : prefixes) socket_.set(zmq::sockopt::subscribe, p);
  const std::string probe = "probe.bench." + std::to_string(getpid());
  socket_.set(zmq::sockopt::subscribe, probe);
  socket_.connect(subscribe_endpoint);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool live = false;
  while (!live && std::chrono::steady_clock::now() < until) {
    publisher.send(zmq::buffer(probe), zmq::send_flags::sndmore);
    publisher.send(zmq::str_buffer(""), zmq::send_flags::none);
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(20)) == 0) continue;
    while (true) {
      auto parts = common::ReceiveMultipart(socket_);
      if (parts.empty()) break;
      if (parts[0].to_string() == probe) live = true;
    }
  }
  if (!live) throw std::runtime_error("the bus did not carry a probe within 10 s");
  socket_.set(zmq::sockopt::unsubscribe, probe);
  received_.reserve(1 << 16);
  // The socket moves to the recorder thread; thread start is the barrier.
  thread_ = std::thread([this] { Loop(); });
}

BusRecorder::~BusRecorder() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void BusRecorder::Loop() {
  while (!stop_.load()) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(20));
    while (true) {
      auto parts = common::ReceiveMultipart(socket_);
      if (parts.empty()) break;
      if (parts.size() != 2) continue;
      Received r;
      r.steady_ns = SteadyNs();
      r.topic = parts[0].to_string();
      r.payload = parts[1].to_string();
      if (r.topic == "run.completed") ++completed_;
      if (r.topic == "run.failed") ++failed_;
      if (r.topic == "due.ack") ++acks_;
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(std::move(r));
    }
  }
}

std::vector<Received> BusRecorder::Since(std::size_t from) {
  std::lock_guard<std::mutex> lock(mu_);
  if (from >= received_.size()) return {};
  return std::vector<Received>(received_.begin() + static_cast<std::ptrdiff_t>(from),
                               received_.end());
}

std::vector<Received> BusRecorder::Finish() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(received_);
}

}  // namespace bench
