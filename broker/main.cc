// daybreak-broker: the event bus, the run state and the dispatcher.
#include <malloc.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "broker/backup_ops.h"
#include "broker/broker.h"
#include "broker/broker_config.h"
#include "broker/disk_space.h"
#include "broker/http_api.h"
#include "broker/listeners.h"
#include "broker/metrics.h"
#include "broker/reload.h"
#include "broker/rocks_store.h"
#include "common/daemon.h"
#include "schemas/vocabulary.h"

namespace {

bool accept_data_loss = false;  // --accept-data-loss
bool check_only = false;        // --check
bool backup_list = false;       // --backup-list
int backup_verify = -1;         // --backup-verify ID (0: the newest)
int backup_restore = -1;        // --backup-restore ID (0: the newest)

// Opening writes (a new WAL, the MANIFEST), and RocksDB on a full disk can
// abort: wait for space first, saying so, as a supervisor restart would.
bool WaitForSpace(common::Daemon& d, const std::string& state_dir, std::uint64_t reserve) {
  std::filesystem::path probe = std::filesystem::absolute(state_dir);
  while (!probe.empty() && !std::filesystem::exists(probe)) probe = probe.parent_path();
  auto last_said = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!d.stop().load()) {
    const common::Status s = broker::CheckSpace(probe.string(), reserve);
    if (s.ok()) return true;
    if (std::chrono::steady_clock::now() - last_said >= std::chrono::seconds(30)) {
      spdlog::critical("not opening the run store yet: {}", s.message());
      last_said = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // polling the disk, not a peer
  }
  return false;
}

int RunBroker(common::Daemon& d) {
  const common::Config& c = d.config();
  if (check_only) return broker::PrintStoreCheck(c.state_dir);
  const broker::BackupSettings backups = broker::BackupSettingsFrom(c);
  if (backup_list) return broker::PrintBackups(backups.dir);
  if (backup_verify >= 0) return broker::PrintVerify(backups.dir, static_cast<std::uint32_t>(backup_verify));
  if (backup_restore >= 0) {
    return broker::PrintRestore(backups.dir, static_cast<std::uint32_t>(backup_restore), c.state_dir);
  }
  const std::uint64_t reserve = static_cast<std::uint64_t>(c.min_free_mb) << 20;
  if (!WaitForSpace(d, c.state_dir, reserve)) return common::kExitOk;
  auto store = broker::RocksStore::Open(
      c.state_dir, broker::OpenOptions{.sync = c.sync_writes,
                                       .accept_data_loss = accept_data_loss,
                                       .min_free_bytes = reserve});
  if (!store.ok()) {
    spdlog::critical("cannot open the run store: {}", store.status().ToString());
    return common::kExitFailed;
  }
  common::SystemClock system_clock;
  common::OffsetClock clock(system_clock, std::chrono::milliseconds(c.wall_clock_offset_ms));
  broker::TeamRegistry teams(broker::TeamDefaultsFrom(c));
  broker::RunManager manager(*store.value(), teams, clock, broker::SettingsFrom(c));
  broker::BrokerMetrics metrics;  // /metrics: what runs did, by team
  manager.set_metrics(&metrics);
  const broker::EventArchive archive(
      !c.archive_dir.empty()
          ? c.archive_dir
          : (std::filesystem::path(c.state_dir).lexically_normal().parent_path() / "archive").string());
  manager.set_event_archive(&archive);
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
  broker::AddBackupOps(control, *store.value(), backups);
  // Every change and manual action, with who asked (docs/security.md).
  broker::AuditLog audit(c.log_dir + "/audit.jsonl");
  control.SetAuditLog(&audit);
  auto listeners = broker::Listeners::Open(d.context(), c);
  if (!listeners.ok()) {
    spdlog::critical("{}", listeners.status().message());
    return common::kExitFailed;
  }
  broker::Listeners& bound = *listeners.value();
  broker::HttpApi http(d.context(), bound.local_control(), bound.LocalClientSetup());
  http.SetMetrics(metrics.registry());
  // Checked at start (common::ValidateSecurity): this read cannot fail.
  if (auto grants = common::HttpGrants(c); grants.ok()) http.SetTokens(std::move(grants).value());
  if (!c.http_listen.empty()) {
    // Monitoring that cannot start must not stop scheduling.
    if (const common::Status s = http.Start(c.http_listen); !s.ok()) {
      spdlog::error("{}; no dashboard", s.message());
    }
  }
  spdlog::info("broker ready: publish {} subscribe {} control {} work {} state {}", c.bus_publish,
               c.bus_subscribe, c.control, c.work, c.state_dir);
  broker::Broker broker(bound.sockets(), manager, control, clock);
  broker.ServeRunLogs(*store.value());
  // The watchdog's evidence that the loop turns (it turns at least every second).
  broker.AddPeriodic(std::chrono::seconds(1), [&d, &audit] {
    d.Alive();
    audit.Sync();  // the audit log is on disk within a second
  });
  d.Ready(fmt::format("serving control {} work {}, state {}", c.control, c.work, c.state_dir));
  std::uint64_t backup_failures = 0;
  if (backups.every.count() > 0) {
    broker.AddPeriodic(backups.every, [&store, &backups, &backup_failures] {
      broker::TakeScheduledBackup(*store.value(), backups, &backup_failures);
    });
  }
  control.AddStatsSource([&broker, &backup_failures, &store](std::map<std::string, std::int64_t>& stats) {
    stats["backup_failures"] = static_cast<std::int64_t>(backup_failures);
    stats["bad_frames"] = static_cast<std::int64_t>(broker.counters().bad_frames);
    stats["forwarded"] = static_cast<std::int64_t>(broker.counters().forwarded);
    stats["refused_keys"] = static_cast<std::int64_t>(broker.counters().refused_keys);
    stats["held_dues"] = static_cast<std::int64_t>(broker.counters().held_dues);
    broker.AddNotifierFigures(stats, store.value()->incarnation());
  });
  // SIGHUP and `daybreak admin reload`: keys, tokens, retry and team defaults.
  const auto reloads = d.OnReload([&c, &broker, &http](const common::Config& fresh) {
    return broker::ApplyReload(c, fresh, broker, http);
  });
  control.AddOp(schemas::op::kAdminReload, [&d](const schemas::ControlRequest&) -> common::Result<schemas::ControlReply> {
    auto changed = d.Reload("admin.reload");
    if (!changed.ok()) return changed.status();
    schemas::ControlReply reply;
    reply.message = changed.value();
    return reply;
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
  daemon.app().add_flag("--check", check_only,
                        "check the run store in paths.state_dir (records against their indexes, the "
                        "active index, team locks, the event log) and exit: 0 when consistent, 1 "
                        "with one line per problem. Read-only; safe beside a running broker");
  daemon.app().add_flag("--backup-list", backup_list,
                        "list the backups in backup.dir and exit (no broker needed)");
  daemon.app()
      .add_option("--backup-verify", backup_verify,
                  "check backup ID's files (sizes, checksums) and exit: 0 whole, 1 damaged. 0: the newest")
      ->check(CLI::Range(0, 1 << 30));
  daemon.app()
      .add_option("--backup-restore", backup_restore,
                  "replace paths.state_dir with backup ID (0: the newest) and exit. Stop the broker "
                  "first; the old folder is kept aside, and the next start is a new incarnation")
      ->check(CLI::Range(0, 1 << 30));
  return daemon.Main(argc, argv, RunBroker);
}
