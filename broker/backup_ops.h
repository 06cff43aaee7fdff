// The broker's side of backups (backups.h): the control ops backup.create,
// backup.list and backup.verify over its open RocksStore, and the backups
// it takes by itself every backup.every_h.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "broker/control_handler.h"
#include "broker/rocks_store.h"
#include "common/config.h"

namespace broker {

struct BackupSettings {
  std::string dir;
  std::uint32_t keep = 7;                // 0: all
  std::chrono::milliseconds every{0};    // 0: only when asked
};

// backup.* from the configuration; an empty backup.dir is <state_dir>/../backups.
BackupSettings BackupSettingsFrom(const common::Config& c);

// Registers the ops on `control`. `store` must outlive it.
void AddBackupOps(ControlHandler& control, RocksStore& store, const BackupSettings& settings);

// One scheduled backup, logged (an error when it fails, counted in
// *failures); for Broker::AddPeriodic.
void TakeScheduledBackup(RocksStore& store, const BackupSettings& settings, std::uint64_t* failures);

}  // namespace broker
