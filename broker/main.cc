// daybreak-broker: the event bus, the run state and the dispatcher.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <filesystem>

#include "broker/broker.h"
#include "broker/rocks_store.h"
#include "broker/http_api.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/schedule.h"
#include "common/security.h"
#include "schemas/topics.h"

namespace {

broker::Settings SettingsFrom(const common::Config& c) {
  broker::Settings s;
  s.misfire_grace = std::chrono::seconds(c.misfire_grace_s);
  s.retry.initial = std::chrono::milliseconds(static_cast<std::int64_t>(c.backoff_initial_s * 1000));
  s.retry.max = std::chrono::milliseconds(static_cast<std::int64_t>(c.backoff_max_s * 1000));
  s.retry.retry_any_failure = c.retry_on == "any";
  s.failure_alert_threshold = static_cast<std::uint32_t>(c.failure_alert_threshold);
  s.event_retention = std::chrono::hours(24LL * c.event_retention_days);
  s.no_success_alert = std::chrono::milliseconds(static_cast<std::int64_t>(c.no_success_alert_h * 3'600'000));
  s.heartbeat = std::chrono::milliseconds(c.heartbeat_ms);
  s.heartbeat_liveness = c.heartbeat_liveness;
  return s;
}

broker::TeamDefaults DefaultsFrom(const common::Config& c) {
  broker::TeamDefaults d;
  d.run_time = c.daily_run_time;
  d.timezone = c.timezone.empty() ? common::MachineZoneName() : c.timezone;
  d.overlap = c.overlap;
  d.max_attempts = static_cast<std::uint32_t>(c.max_attempts);
  d.purchase_day = common::ParseWeekday(c.purchase_weekday).value();
  return d;
}

// Where a local client reaches a socket we bind ("tcp://*:7403" is bound on
// every interface, and reached on loopback).
std::string LocalAddressOf(std::string endpoint) {
  for (const std::string any : {"//*:", "//0.0.0.0:"}) {
    if (auto at = endpoint.find(any); at != std::string::npos) {
      endpoint.replace(at, any.size(), "//127.0.0.1:");
    }
  }
  return endpoint;
}

zmq::socket_t Bind(zmq::context_t& context, zmq::socket_type type, const std::string& endpoint,
                   std::size_t max_bytes, const common::Config& config) {
  zmq::socket_t socket(context, type);
  common::ApplyServerSecurity(socket, config);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_bytes));
  socket.set(zmq::sockopt::sndhwm, 100000);
  socket.set(zmq::sockopt::rcvhwm, 100000);
  socket.bind(endpoint);
  return socket;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"daybreak-broker: Daybreak's event bus, run state and dispatcher"};
  std::string config_path;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    auto config = common::LoadProcessConfig(config_path);
    if (!config.ok()) {
      fmt::print(stderr, "daybreak-broker: bad configuration: {}\n", config.status().message());
      return 2;
    }
    const common::Config& c = config.value();
    if (auto s = common::ValidateSecurity(c, /*broker=*/true); !s.ok()) {
      fmt::print(stderr, "daybreak-broker: bad configuration: {}\n", s.message());
      return 2;
    }
    if (auto s = common::SetupLogging("broker", c.log_level); !s.ok()) {
      fmt::print(stderr, "daybreak-broker: {}\n", s.message());
      return 2;
    }
    const auto& stop = common::InstallStopSignals();
    std::filesystem::create_directories(c.state_dir);
    auto store = broker::RocksStore::Open(c.state_dir, c.sync_writes);
    if (!store.ok()) {
      spdlog::critical("cannot open the run store: {}", store.status().ToString());
      return 1;
    }
    common::SystemClock system_clock;
    common::OffsetClock clock(system_clock, std::chrono::milliseconds(c.wall_clock_offset_ms));
    broker::TeamRegistry teams(DefaultsFrom(c));
    broker::RunManager manager(*store.value(), teams, clock, SettingsFrom(c));
    if (auto s = manager.Load(); !s.ok()) {
      spdlog::critical("cannot load state from {}: {}", c.state_dir, s.ToString());
      return 1;
    }
    malloc_trim(0);  // loading used memory the broker will not need again
    broker::ControlHandler control(manager, *store.value(), teams, c.max_backfill_days);
    zmq::context_t context(1);
    // The ZAP handler must exist before the CURVE sockets take connections.
    std::unique_ptr<broker::ZapHandler> zap;
    common::Config http_client = c;  // the dashboard is a control client too
    if (c.curve_enabled) {
      zap = std::make_unique<broker::ZapHandler>(
          context, std::set<std::string>(c.authorized_clients.begin(), c.authorized_clients.end()));
      auto own = common::NewKeyPair();
      if (!own.ok()) {
        spdlog::critical("{}", own.status().message());
        return 1;
      }
      http_client.client_public_key = own.value().public_key;
      http_client.client_secret_key = own.value().secret_key;
      zap->Authorize(own.value().public_key);
    }
    zmq::socket_t bus_in = Bind(context, zmq::socket_type::xsub, c.bus_publish, schemas::kMaxFrameBytes, c);
    zmq::socket_t bus_out = Bind(context, zmq::socket_type::xpub, c.bus_subscribe, schemas::kMaxFrameBytes, c);
    zmq::socket_t control_socket = Bind(context, zmq::socket_type::router, c.control, schemas::kMaxFrameBytes, c);
    zmq::socket_t work = Bind(context, zmq::socket_type::router, c.work, schemas::kMaxFrameBytes, c);
    broker::HttpApi http(context, LocalAddressOf(c.control), [&http_client](zmq::socket_t& s) {
      common::ApplyClientSecurity(s, http_client);
    });
    if (!c.http_listen.empty()) {
      // Monitoring that cannot start must not stop scheduling.
      if (auto s = http.Start(c.http_listen); !s.ok()) spdlog::error("{}; no dashboard", s.message());
    }
    spdlog::info("broker ready: publish {} subscribe {} control {} work {} state {}", c.bus_publish,
                 c.bus_subscribe, c.control, c.work, c.state_dir);
    broker::Broker broker({&bus_in, &bus_out, &control_socket, &work, zap.get()}, manager, control,
                          clock);
    control.AddStatsSource([&broker](std::map<std::string, std::int64_t>& stats) {
      stats["bad_frames"] = static_cast<std::int64_t>(broker.counters().bad_frames);
      stats["forwarded"] = static_cast<std::int64_t>(broker.counters().forwarded);
    });
    auto s = broker.Run(stop);
    spdlog::info("broker stopping");
    return s.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::critical("broker failed: {}", e.what());
    return 1;
  }
}
