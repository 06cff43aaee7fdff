#include "broker/backup_ops.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "schemas/vocabulary.h"

namespace broker {
namespace {

schemas::ControlReply Listing(const std::vector<BackupEntry>& backups) {
  schemas::ControlReply reply;
  reply.backups = backups;
  return reply;
}

}  // namespace

BackupSettings BackupSettingsFrom(const common::Config& c) {
  BackupSettings s;
  s.dir = !c.backup_dir.empty()
              ? c.backup_dir
              : (std::filesystem::path(c.state_dir).lexically_normal().parent_path() / "backups").string();
  s.keep = static_cast<std::uint32_t>(c.backup_keep);
  s.every = std::chrono::milliseconds(static_cast<std::int64_t>(c.backup_every_h * 3'600'000.0));
  return s;
}

void AddBackupOps(ControlHandler& control, RocksStore& store, const BackupSettings& settings) {
  control.AddOp(schemas::op::kBackupCreate,
                [&store, settings](const schemas::ControlRequest&) -> common::Result<schemas::ControlReply> {
                  auto taken = store.CreateBackup(settings.dir, settings.keep);
                  if (!taken.ok()) return taken.status();
                  spdlog::info("{} taken in {}", Describe(taken.value()), settings.dir);
                  return Listing({taken.value()});
                });
  control.AddOp(schemas::op::kBackupList,
                [settings](const schemas::ControlRequest&) -> common::Result<schemas::ControlReply> {
                  auto backups = ListBackups(settings.dir);
                  if (!backups.ok()) return backups.status();
                  return Listing(backups.value());
                });
  control.AddOp(schemas::op::kBackupVerify,
                [settings](const schemas::ControlRequest& r) -> common::Result<schemas::ControlReply> {
                  auto verified = VerifyBackup(settings.dir, r.backup_id);
                  if (!verified.ok()) return verified.status();
                  return Listing({verified.value()});
                });
}

void TakeScheduledBackup(RocksStore& store, const BackupSettings& settings, std::uint64_t* failures) {
  const auto started = std::chrono::steady_clock::now();
  auto taken = store.CreateBackup(settings.dir, settings.keep);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (!taken.ok()) {
    ++*failures;
    spdlog::error("scheduled backup failed: {} (the next one is in {:.1f} h; daybreak backup create "
                  "tries now)",
                  taken.status().message(), static_cast<double>(settings.every.count()) / 3.6e6);
    return;
  }
  spdlog::info("scheduled {} taken in {} ms into {}", Describe(taken.value()), ms.count(), settings.dir);
}

}  // namespace broker
