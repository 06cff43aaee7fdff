// daybreak-ticker: publishes a due event at each team's daily fire time.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "schemas/control_client.h"
#include "schemas/topics.h"
#include "ticker/ticker.h"

namespace {

int RunTicker(common::Daemon& d) {
  const common::Config& c = d.config();
  if (!c.enable_scheduler) {
    // Stay up, so a supervisor does not restart us in a loop.
    spdlog::info("scheduling is disabled (ENABLE_SCHEDULER=false); idle until stopped");
    while (!d.stop().load()) pause();
    return common::kExitOk;
  }
  zmq::socket_t publisher = d.Publisher(c.bus_publish);
  zmq::socket_t subscriber = d.Subscriber(
      c.bus_subscribe, {schemas::topic::kDueAck, schemas::topic::kScheduleChanged}, schemas::kMaxFrameBytes);
  schemas::ControlClient control(d.context(), c.control, d.ClientSetup());
  common::SystemClock system_clock;
  common::OffsetClock clock(system_clock, std::chrono::milliseconds(c.wall_clock_offset_ms));
  ticker::Ticker ticker(publisher, subscriber, control, clock, ticker::TickerSettings{});
  spdlog::info("ticker publishing to {}", c.bus_publish);
  d.Ready("publishing due runs to " + c.bus_publish);
  const common::Status s = ticker.Run(d.stop());
  if (!s.ok()) {
    spdlog::error("ticker stopped: {}", s.ToString());
    return common::kExitFailed;
  }
  spdlog::info("ticker stopping");
  return common::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  common::Daemon daemon({.name = "ticker", .about = "publishes Daybreak's scheduled due-run events"});
  return daemon.Main(argc, argv, RunTicker);
}
