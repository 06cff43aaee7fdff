#include "runner/metrics_http.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <charconv>

namespace runner {

MetricsHttp::MetricsHttp(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)), server_(std::make_unique<httplib::Server>()) {}

MetricsHttp::~MetricsHttp() { Stop(); }

common::Status MetricsHttp::Start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  int port = 0;
  const char* end = listen.data() + listen.size();
  if (colon == std::string::npos ||
      std::from_chars(listen.data() + colon + 1, end, port).ptr != end || port <= 0 || port > 65535) {
    return common::Status::Error(common::Code::kInvalid,
                                 "metrics listen address \"" + listen + "\" is not host:port");
  }
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus::TextSerializer().Serialize(registry_->Collect()),
                    "text/plain; version=0.0.4");
  });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"ok\":true}", "application/json");
  });
  server_->set_read_timeout(2);
  server_->set_write_timeout(5);
  // SO_REUSEADDR only: a second runner given the same port must fail here.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (!server_->bind_to_port(listen.substr(0, colon), port)) {
    return common::Status::Error(common::Code::kIoError, "cannot listen for HTTP on " + listen);
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_.store(true);
  });
  return common::Status();
}

void MetricsHttp::Stop() {
  if (!thread_.joinable()) return;
  // stop() is a no-op until the listener runs: wait for it first.
  while (!server_->is_running() && !listen_returned_.load()) std::this_thread::yield();
  server_->stop();
  thread_.join();
}

}  // namespace runner
