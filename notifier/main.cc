// daybreak-notifier: delivers run events and alerts to people.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "common/logging.h"
#include "common/process.h"
#include "common/security.h"
#include "notifier/notifier.h"
#include "notifier/notifier_config.h"
#include "schemas/topics.h"

int main(int argc, char** argv) {
  CLI::App app{"daybreak-notifier: delivers Daybreak run events and alerts"};
  std::string config_path;
  std::string cursor_path;
  app.add_option("-c,--config", config_path, "TOML configuration file")->check(CLI::ExistingFile);
  bool from_newest = false;
  app.add_flag("--from-newest", from_newest,
               "with no cursor file yet, start at the newest event instead of replaying the retained log");
  app.add_option("--cursor", cursor_path,
                 "file keeping the last delivered seq (default: notifier.cursor_file, else "
                 "<state_dir>/../notifier/cursor)");
  CLI11_PARSE(app, argc, argv);
  try {
    auto config = common::LoadProcessConfig(config_path);
    if (!config.ok()) {
      fmt::print(stderr, "daybreak-notifier: bad configuration: {}\n", config.status().message());
      return 2;
    }
    auto sinks = notifier::LoadNotifierConfig(config_path, [](const char* n) { return std::getenv(n); });
    if (!sinks.ok()) {
      fmt::print(stderr, "daybreak-notifier: bad configuration: {}\n", sinks.status().message());
      return 2;
    }
    const common::Config& c = config.value();
    if (auto s = common::ValidateSecurity(c, /*broker=*/false); !s.ok()) {
      fmt::print(stderr, "{}: bad configuration: {}\n", argv[0], s.message());
      return 2;
    }
    if (auto s = common::SetupLogging("notifier", c.log_level); !s.ok()) {
      fmt::print(stderr, "daybreak-notifier: {}\n", s.message());
      return 2;
    }
    const auto& stop = common::InstallStopSignals();
    if (cursor_path.empty()) cursor_path = sinks.value().cursor_file;
    if (cursor_path.empty()) {
      cursor_path = (std::filesystem::path(c.state_dir).parent_path() / "notifier" / "cursor").string();
    }
    std::filesystem::create_directories(std::filesystem::absolute(cursor_path).parent_path());
    zmq::context_t context(1);
    zmq::socket_t subscriber(context, zmq::socket_type::sub);
    common::ApplyClientSecurity(subscriber, c);
    subscriber.set(zmq::sockopt::linger, 0);
    subscriber.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(schemas::kMaxFrameBytes));
    subscriber.set(zmq::sockopt::rcvhwm, 100000);
    subscriber.set(zmq::sockopt::subscribe, std::string(schemas::kTopicRunPrefix));
    subscriber.set(zmq::sockopt::subscribe, std::string(schemas::kTopicAlertPrefix));
    subscriber.connect(c.bus_subscribe);
    schemas::ControlClient control(context, c.control,
                                   [&c](zmq::socket_t& s) { common::ApplyClientSecurity(s, c); });
    notifier::CursorFile cursor(cursor_path);
    common::SystemClock clock;
    notifier::InitCurl();
    notifier::SinkRouter router(clock);
    notifier::BuildRoutes(sinks.value(), cursor_path, router);
    if (auto s = router.Start(); !s.ok()) {
      spdlog::error("notifier cannot start: {}", s.ToString());
      return 1;
    }
    notifier::Notifier notifier(subscriber, control, cursor, router, clock);
    notifier.set_from_newest(from_newest);
    auto s = notifier.Run(stop);
    if (!s.ok()) spdlog::error("notifier stopped: {}", s.ToString());
    return s.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::critical("notifier failed: {}", e.what());
    return 1;
  }
}
