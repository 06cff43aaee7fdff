// daybreak-broker: the event bus, the run state and the dispatcher.
#include <malloc.h>

#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/broker_config.h"
#include "broker/http_api.h"
#include "broker/listeners.h"
#include "broker/rocks_store.h"
#include "common/daemon.h"
#include "schemas/vocabulary.h"

namespace {

bool accept_data_loss = false;  // --accept-data-loss

int RunBroker(common::Daemon& d) {
  const common::Config& c = d.config();
  auto store = broker::RocksStore::Open(
      c.state_dir, broker::OpenOptions{.sync = c.sync_writes, .accept_data_loss = accept_data_loss});
  if (!store.ok()) {
    spdlog::critical("cannot open the run store: {}", store.status().ToString());
    return common::kExitFailed;
  }
  common::SystemClock system_clock;
  common::OffsetClock clock(system_clock, std::chrono::milliseconds(c.wall_clock_offset_ms));
  broker::TeamRegistry teams(broker::TeamDefaultsFrom(c));
  broker::RunManager manager(*store.value(), teams, clock, broker::SettingsFrom(c));
  if (const common::Status s = manager.Load(); !s.ok()) {
    spdlog::critical("cannot load state from {}: {}", c.state_dir, s.ToString());
    return common::kExitFailed;
  }
  if (!store.value()->data_loss().empty()) {
    manager.RaiseAlert(schemas::alert::kDataLoss,
                       "the broker started on a damaged store with --accept-data-loss: " +
                           store.value()->data_loss());
  }
  malloc_trim(0);  // loading used memory the broker will not need again
  broker::ControlHandler control(manager, *store.value(), teams, c.max_backfill_days);
  auto listeners = broker::Listeners::Open(d.context(), c);
  if (!listeners.ok()) {
    spdlog::critical("{}", listeners.status().message());
    return common::kExitFailed;
  }
  broker::Listeners& bound = *listeners.value();
  broker::HttpApi http(d.context(), bound.local_control(), bound.LocalClientSetup());
  if (!c.http_listen.empty()) {
    // Monitoring that cannot start must not stop scheduling.
    if (const common::Status s = http.Start(c.http_listen); !s.ok()) {
      spdlog::error("{}; no dashboard", s.message());
    }
  }
  spdlog::info("broker ready: publish {} subscribe {} control {} work {} state {}", c.bus_publish,
               c.bus_subscribe, c.control, c.work, c.state_dir);
  broker::Broker broker(bound.sockets(), manager, control, clock);
  control.AddStatsSource([&broker](std::map<std::string, std::int64_t>& stats) {
    stats["bad_frames"] = static_cast<std::int64_t>(broker.counters().bad_frames);
    stats["forwarded"] = static_cast<std::int64_t>(broker.counters().forwarded);
    stats["refused_keys"] = static_cast<std::int64_t>(broker.counters().refused_keys);
  });
  const common::Status s = broker.Run(d.stop());
  if (!s.ok()) spdlog::error("broker stopped: {}", s.ToString());
  spdlog::info("broker stopping");
  return s.ok() ? common::kExitOk : common::kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  common::Daemon daemon(
      {.name = "broker", .about = "Daybreak's event bus, run state and dispatcher", .broker = true});
  daemon.app().add_flag("--accept-data-loss", accept_data_loss,
                        "start on a damaged store with what can be recovered (a new incarnation; "
                        "an alert says what was lost). Without it a damaged store is refused");
  return daemon.Main(argc, argv, RunBroker);
}
