// Backups of the run store (RocksDB's BackupEngine, incremental: files a
// backup shares with the one before are stored once). Taken from the live
// broker (RocksStore::CreateBackup, the control op backup.create and the
// automatic schedule); listed, verified and restored from the folder alone.
// A restore gives the store a new incarnation, so the events it logs next
// have ids no reader can take for ones it saw before. No RocksDB types here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "schemas/messages.h"

namespace broker {

// A backup as the control ops carry it (schemas::BackupInfo: id, time,
// size, files, and the incarnation and last seq it holds).
using BackupEntry = schemas::BackupInfo;

// Every backup in `backup_dir`, oldest first (none when the folder does not
// exist yet).
common::Result<std::vector<BackupEntry>> ListBackups(const std::string& backup_dir);

// Re-reads backup `id` (0: the newest) and checks every file's size and
// checksum; kCorrupt naming what is wrong, kNotFound when there is no such
// backup.
common::Result<BackupEntry> VerifyBackup(const std::string& backup_dir, std::uint32_t id);

struct Restored {
  BackupEntry backup;
  std::string kept_aside;  // where the folder it replaced now is ("" if none)
};

// Restores backup `id` (0: the newest) into `state_dir`, which no broker
// may hold open (kRejected when one does). The folder there is kept aside
// as `<state_dir>.before-restore-<unix ms>`, never deleted; the restored
// store is verified first and opens under a new incarnation.
common::Result<Restored> RestoreBackup(const std::string& backup_dir, std::uint32_t id,
                                       const std::string& state_dir);

// One line for people: "backup 3  2026-12-03 02:00:00 UTC  1.2 MiB  41 files  through 7f3a…:390".
std::string Describe(const BackupEntry& backup);

// The broker's offline flags (the broker need not run; for restore it must
// not): --backup-list, --backup-verify ID, --backup-restore ID. Each prints
// what it did and returns the exit code (0 done, 1 failed).
int PrintBackups(const std::string& backup_dir);
int PrintVerify(const std::string& backup_dir, std::uint32_t id);
int PrintRestore(const std::string& backup_dir, std::uint32_t id, const std::string& state_dir);

}  // namespace broker
