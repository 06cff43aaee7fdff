// daybreak-notifier: delivers run events and alerts to people.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "common/daemon.h"
#include "notifier/http_client.h"
#include "notifier/notifier.h"
#include "notifier/notifier_config.h"
#include "schemas/control_client.h"
#include "schemas/topics.h"

namespace {

struct Flags {
  std::string cursor_path;
  bool from_newest = false;
};

// --cursor, else notifier.cursor_file, else <state_dir>/../notifier/cursor.
std::string CursorPath(const Flags& flags, const notifier::NotifierConfig& sinks,
                       const common::Config& c) {
  if (!flags.cursor_path.empty()) return flags.cursor_path;
  if (!sinks.cursor_file.empty()) return sinks.cursor_file;
  return (std::filesystem::path(c.state_dir).parent_path() / "notifier" / "cursor").string();
}

int RunNotifier(common::Daemon& d, const Flags& flags) {
  const common::Config& c = d.config();
  auto sinks = notifier::LoadNotifierConfig(d.config_path(), [](const char* n) { return std::getenv(n); });
  if (!sinks.ok()) {
    spdlog::error("bad configuration: {}", sinks.status().message());
    return common::kExitBadConfig;
  }
  const std::string cursor_path = CursorPath(flags, sinks.value(), c);
  std::filesystem::create_directories(std::filesystem::absolute(cursor_path).parent_path());
  zmq::socket_t subscriber = d.Subscriber(
      c.bus_subscribe, {schemas::topic::kRunPrefix, schemas::topic::kAlertPrefix}, schemas::kMaxFrameBytes);
  schemas::ControlClient control(d.context(), c.control, d.ClientSetup());
  notifier::CursorFile cursor(cursor_path);
  common::SystemClock clock;
  notifier::InitCurl();
  notifier::SinkRouter router(clock);
  notifier::BuildRoutes(sinks.value(), cursor_path, router);
  if (const common::Status s = router.Start(); !s.ok()) {
    spdlog::error("notifier cannot start: {}", s.ToString());
    return common::kExitFailed;
  }
  notifier::Notifier notifier(subscriber, control, cursor, router, clock);
  notifier.set_from_newest(flags.from_newest);
  notifier.set_dead_letter_sync_every(
      std::chrono::milliseconds(static_cast<std::int64_t>(sinks.value().dead_letter_sync_s * 1000)));
  // How far it has delivered, for the broker's /metrics (lag, per sink).
  zmq::socket_t progress = d.Publisher(c.bus_publish);
  notifier.set_progress_publisher(&progress);
  d.Ready("delivering to " + fmt::format("{}", fmt::join(router.Destinations(), ", ")));
  // SIGHUP: the [notifier] section again. The new sinks are built and
  // started here; the loop moves to them at its next turn.
  const auto reloads = d.OnReload([&d, &notifier, &clock, cursor_path](const common::Config&) -> common::Result<std::string> {
    auto fresh = notifier::LoadNotifierConfig(d.config_path(), [](const char* n) { return std::getenv(n); });
    if (!fresh.ok()) return fresh.status();
    auto next = std::make_unique<notifier::SinkRouter>(clock);
    notifier::BuildRoutes(fresh.value(), cursor_path, *next);
    if (common::Status s = next->Start(); !s.ok()) return s;
    const std::string to = fmt::format("{}", fmt::join(next->Destinations(), ", "));
    notifier.ReplaceRouter(std::move(next));
    return "sinks " + to + " (the cursor file stays " + cursor_path + ")";
  });
  const common::Status s = notifier.Run(d.stop());
  if (!s.ok()) spdlog::error("notifier stopped: {}", s.ToString());
  return s.ok() ? common::kExitOk : common::kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  common::Daemon daemon({.name = "notifier",
                         .about = "delivers Daybreak run events and alerts",
                         .check_more = [](const std::string& path) {
                           return notifier::LoadNotifierConfig(path, [](const char* n) { return std::getenv(n); })
                               .status();
                         }});
  Flags flags;
  daemon.app().add_flag("--from-newest", flags.from_newest,
                        "with no cursor file yet, start at the newest event instead of replaying the "
                        "retained log");
  daemon.app().add_option("--cursor", flags.cursor_path,
                          "file keeping the last delivered seq (default: notifier.cursor_file, else "
                          "<state_dir>/../notifier/cursor)");
  return daemon.Main(argc, argv, [&flags](common::Daemon& d) { return RunNotifier(d, flags); });
}
