// daybreak-ticker: publishes a due event at each team's daily fire time.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/process.h"
#include "common/security.h"
#include "schemas/topics.h"
#include "ticker/ticker.h"

int main(int argc, char** argv) {
  CLI::App app{"daybreak-ticker: publishes Daybreak's scheduled due-run events"};
  std::string config_path;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    auto config = common::LoadProcessConfig(config_path);
    if (!config.ok()) {
      fmt::print(stderr, "daybreak-ticker: bad configuration: {}\n", config.status().message());
      return 2;
    }
    const common::Config& c = config.value();
    if (auto s = common::ValidateSecurity(c, /*broker=*/false); !s.ok()) {
      fmt::print(stderr, "{}: bad configuration: {}\n", argv[0], s.message());
      return 2;
    }
    if (auto s = common::SetupLogging("ticker", c.log_level); !s.ok()) {
      fmt::print(stderr, "daybreak-ticker: {}\n", s.message());
      return 2;
    }
    const auto& stop = common::InstallStopSignals();
    if (!c.enable_scheduler) {
      // Stay up, so a supervisor does not restart us in a loop.
      spdlog::info("scheduling is disabled (ENABLE_SCHEDULER=false); idle until stopped");
      while (!stop.load()) pause();
      return 0;
    }
    zmq::context_t context(1);
    zmq::socket_t publisher(context, zmq::socket_type::pub);
    common::ApplyClientSecurity(publisher, c);
    publisher.set(zmq::sockopt::linger, 1000);
    publisher.set(zmq::sockopt::sndhwm, 100000);
    publisher.connect(c.bus_publish);
    zmq::socket_t subscriber(context, zmq::socket_type::sub);
    common::ApplyClientSecurity(subscriber, c);
    subscriber.set(zmq::sockopt::linger, 0);
    subscriber.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
    subscriber.set(zmq::sockopt::rcvhwm, 100000);
    subscriber.set(zmq::sockopt::subscribe, std::string(schemas::kTopicDueAck));
    subscriber.set(zmq::sockopt::subscribe, std::string(schemas::kTopicScheduleChanged));
    subscriber.connect(c.bus_subscribe);
    schemas::ControlClient control(context, c.control,
                                   [&c](zmq::socket_t& s) { common::ApplyClientSecurity(s, c); });
    common::SystemClock system_clock;
    common::OffsetClock clock(system_clock, std::chrono::milliseconds(c.wall_clock_offset_ms));
    ticker::Ticker ticker(publisher, subscriber, control, clock, ticker::TickerSettings{});
    spdlog::info("ticker publishing to {}", c.bus_publish);
    auto s = ticker.Run(stop);
    spdlog::info("ticker stopping");
    return s.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::critical("ticker failed: {}", e.what());
    return 1;
  }
}
