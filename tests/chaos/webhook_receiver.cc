#include "tests/chaos/webhook_receiver.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

#include "schemas/event_id.h"
#include "schemas/vocabulary.h"

namespace chaos {

WebhookReceiver::WebhookReceiver() : server_(std::make_unique<httplib::Server>()) {
  server_->Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req.body);
    res.status = 200;
  });
  const int port = server_->bind_to_any_port("127.0.0.1");
  if (port <= 0) throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1");
  url_ = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

WebhookReceiver::~WebhookReceiver() {
  // stop() is a no-op until the listener runs; wait for it first.
  while (!server_->is_running() && thread_.joinable()) std::this_thread::yield();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void WebhookReceiver::Handle(const std::string& body) {
  Notice n;
  try {
    const nlohmann::json j = nlohmann::json::parse(body);
    // The id is "<incarnation>:<seq>"; one store here, so the seq orders.
    n.event_id = j.at("seq").get<std::uint64_t>();
    n.incarnation = j.at("incarnation").get<std::string>();
    if (n.incarnation.empty() ||
        j.at("event_id").get<std::string>() != schemas::EventId(n.incarnation, n.event_id)) {
      throw std::runtime_error("event_id is not <incarnation>:<seq>");
    }
    n.topic = j.value("topic", "");
    if (n.topic.starts_with(schemas::topic::kRunPrefix)) {
      n.event = j.at("event").get<std::string>();
      const nlohmann::json& run = j.at("run");
      n.run_id = run.at("run_id").get<std::string>();
      n.key = run.value("key", "");
      n.state = run.value("state", "");
      n.kind = run.value("kind", "");
      n.team = run.value("team", 0u);
      n.attempt = run.value("attempt", 0u);
      n.error = run.value("error", "");
    }
  } catch (const std::exception&) {
    std::lock_guard<std::mutex> lock(mu_);
    ++deliveries_;
    ++malformed_;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++deliveries_;
  auto [it, fresh] = bodies_.emplace(n.event_id, body);
  if (!fresh) {
    ++repeats_;
    // A replay may differ in nothing but the order of its keys; compare
    // what the checks read.
    const Notice& seen = notices_.at(n.event_id);
    if (seen.run_id != n.run_id || seen.state != n.state || seen.attempt != n.attempt ||
        seen.topic != n.topic) {
      ++conflicts_;
    }
    return;
  }
  const auto state = schemas::ParseRunState(n.state);
  if (!n.run_id.empty() && state && schemas::IsTerminal(*state)) ++terminal_;
  notices_.emplace(n.event_id, std::move(n));
  while (notices_.count(contiguous_ + 1) != 0) ++contiguous_;
  changed_.notify_all();
}

bool WebhookReceiver::WaitForAll(std::uint64_t last_seq, std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, deadline, [&] { return contiguous_ >= last_seq; });
}

std::size_t WebhookReceiver::WaitForChange(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  const std::uint64_t before = deliveries_;
  changed_.wait_for(lock, wait, [&] { return deliveries_ != before; });
  return terminal_;
}

std::map<std::uint64_t, Notice> WebhookReceiver::notices() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notices_;
}
std::uint64_t WebhookReceiver::deliveries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deliveries_;
}
std::uint64_t WebhookReceiver::repeats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return repeats_;
}
std::uint64_t WebhookReceiver::conflicts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conflicts_;
}
std::uint64_t WebhookReceiver::malformed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return malformed_;
}

}  // namespace chaos
