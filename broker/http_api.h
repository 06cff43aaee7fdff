// HttpApi: the broker's monitoring face over HTTP: /healthz for
// supervisors and load balancers, /metrics for Prometheus, /api/* as JSON,
// and / a small live dashboard. It runs on its own threads and reads the
// broker only through the control socket, like any other client, and the
// loop's own metrics registry (whose series are thread-safe), so it never
// touches the broker loop's state.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <prometheus/registry.h>
#include <zmq.hpp>

#include "common/status.h"
#include "schemas/control_client.h"

namespace httplib {
class Server;
}

namespace broker {

class HttpApi {
 public:
  // `listen` is "host:port"; `control_endpoint` the broker's control socket.
  // `context` must outlive the HttpApi.
  HttpApi(zmq::context_t& context, std::string control_endpoint,
          schemas::ControlClient::SocketSetup setup = {});
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds and starts serving in the background; an error names the address.
  common::Status Start(const std::string& listen);
  // Series /metrics adds to the broker's figures (BrokerMetrics::registry()).
  // Before Start.
  void SetMetrics(std::shared_ptr<prometheus::Registry> metrics) { metrics_ = std::move(metrics); }
  void Stop();

 private:
  common::Result<schemas::ControlReply> Ask(const schemas::ControlRequest& request);
  void Routes();

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // set by thread_ as it ends
  std::mutex control_mutex_;  // the control client is one zmq socket
  schemas::ControlClient control_;
  std::shared_ptr<prometheus::Registry> metrics_;
};

}  // namespace broker
