#include "common/process.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>

namespace common {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

const std::atomic<bool>& InstallStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

std::string DefaultConfigPath() {
  if (const char* env = std::getenv("DAYBREAK_CONFIG"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  if (std::filesystem::exists(kSystemConfig, ec)) return kSystemConfig;
  return "";
}

Result<Config> LoadProcessConfig(const std::string& path) {
  return LoadConfig(path.empty() ? DefaultConfigPath() : path,
                    [](const char* name) { return std::getenv(name); });
}

}  // namespace common
