#include "runner/runner_settings.h"

#include <unistd.h>

#include <filesystem>

namespace runner {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> DefaultCommand() {
  std::error_code ec;
  const fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "daybreak-pipeline";
  if (!ec && fs::exists(beside)) return {beside.string(), "loan-tape"};
  return {"daybreak-pipeline", "loan-tape"};
}

std::string DefaultRunnerId() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

std::string Absolute(const std::string& dir) { return fs::absolute(dir).lexically_normal().string(); }

}  // namespace

RunnerSettings SettingsFrom(const common::Config& c, const RunnerFlags& flags) {
  RunnerSettings s;
  s.runner_id = !flags.runner_id.empty() ? flags.runner_id
                : !c.runner_id.empty()   ? c.runner_id
                                         : DefaultRunnerId();
  s.slots = static_cast<std::uint32_t>(flags.slots > 0 ? flags.slots : c.slots);
  // Deployments on one host differ at least in their broker's endpoint.
  s.deployment = !c.deployment_id.empty() ? c.deployment_id : c.work;
  s.default_command = c.pipeline_command.empty() ? DefaultCommand() : c.pipeline_command;
  s.input_root = Absolute(c.input_dir);
  s.output_root = Absolute(c.output_dir);
  s.log_dir = Absolute(c.log_dir);
  s.heartbeat = std::chrono::milliseconds(c.heartbeat_ms);
  s.heartbeat_liveness = c.heartbeat_liveness;
  s.run_timeout = std::chrono::seconds(c.run_timeout_s);
  s.kill_grace = std::chrono::seconds(c.kill_grace_s);
  s.drain_timeout = std::chrono::seconds(c.drain_timeout_s);
  s.noop = flags.noop;
  s.isolation = c.isolation;
  for (const std::string& p : c.sandbox_read) s.sandbox_read.push_back(Absolute(p));
  for (const std::string& p : c.sandbox_write) s.sandbox_write.push_back(Absolute(p));
  s.memory_max_mb = static_cast<std::uint32_t>(c.memory_max_mb);
  s.cpu_max = c.cpu_max;
  s.pass_env = c.pass_env;
  s.team_uid_base = static_cast<std::uint32_t>(c.team_uid_base);  // run_as: resolved at start
  return s;
}

}  // namespace runner
