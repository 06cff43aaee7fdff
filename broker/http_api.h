// HttpApi: the broker's monitoring face over HTTP: /healthz for
// supervisors and load balancers, /metrics for Prometheus, /api/* as JSON,
// and / a small live dashboard, whose actions (POSTs) need the operator's
// token. It runs on its own threads and reads the
// broker only through the control socket, like any other client, and the
// loop's own metrics registry (whose series are thread-safe), so it never
// touches the broker loop's state.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <thread>

#include <prometheus/registry.h>
#include <zmq.hpp>

#include "common/security.h"
#include "common/status.h"
#include "schemas/control_client.h"

namespace httplib {
class Server;
struct Request;
struct Response;
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
  // The bearer tokens (common::HttpGrants): those that may operate may act,
  // each for its teams; with none the API is read-only. When any read-only
  // token exists, reading /api/* needs a token. Before Start.
  // Safe while serving (a reload): requests from then on see the new set.
  void SetTokens(std::vector<common::HttpGrant> grants);
  void Stop();

 private:
  common::Result<schemas::ControlReply> Ask(const schemas::ControlRequest& request);
  void Routes();
  void ActionRoutes();  // http_actions.cc

  // The grant whose token `req` bears; null for none or an unknown one.
  const common::HttpGrant* GrantOf(const httplib::Request& req) const;
  bool ReadNeedsToken() const;
  bool ActionsOn() const;
  // Whether `req` may go on (acting for `team`, when it is known); when
  // not, `res` holds the refusal.
  bool MayRead(const httplib::Request& req, httplib::Response& res) const;
  bool MayAct(const httplib::Request& req, httplib::Response& res,
              std::optional<std::uint32_t> team) const;
  // Whether `req` may read what is about `team`: a token for some teams
  // reads only those (403 otherwise); without a token, what MayRead let
  // through is open.
  bool MaySee(const httplib::Request& req, httplib::Response& res, std::uint32_t team) const;
  static bool IsActionPath(const std::string& path);
  std::string Who(const httplib::Request& req) const;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // set by thread_ as it ends
  std::mutex control_mutex_;  // the control client is one zmq socket
  schemas::ControlClient control_;
  std::shared_ptr<prometheus::Registry> metrics_;
  // The tokens now, and every earlier set: GrantOf hands out pointers into
  // a set that a request in flight may still use after a reload, so no set
  // is freed (a reload replaces a handful of small records).
  std::shared_ptr<const std::vector<common::HttpGrant>> Grants() const;
  mutable std::mutex grants_mutex_;
  std::shared_ptr<const std::vector<common::HttpGrant>> grants_ =
      std::make_shared<const std::vector<common::HttpGrant>>();
  std::vector<std::shared_ptr<const std::vector<common::HttpGrant>>> retired_grants_;
};

}  // namespace broker
