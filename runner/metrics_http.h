// MetricsHttp: /metrics (and /healthz) of one registry over HTTP, on its
// own thread, for a process that has no other HTTP face (the runner).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "common/status.h"

namespace httplib {
class Server;
}

namespace runner {

class MetricsHttp {
 public:
  explicit MetricsHttp(std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Binds `listen` ("host:port") and serves in the background; an error
  // names the address.
  common::Status Start(const std::string& listen);
  void Stop();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // set by thread_ as it ends
};

}  // namespace runner
