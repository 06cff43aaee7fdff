#include "broker/backups.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <rocksdb/utilities/backup_engine.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "broker/rocks_backup.h"
#include "broker/rocks_keys.h"
#include "broker/rocks_open.h"

namespace broker {
namespace {

namespace fs = std::filesystem;
using common::Code;
using common::Result;
using common::Status;
using rocks::FromRocks;

// What each backup records beside its files: "<incarnation>:<last seq>".
std::string Metadata(const std::string& incarnation, std::uint64_t last_seq) {
  return incarnation + ":" + std::to_string(last_seq);
}

BackupEntry EntryOf(const rocksdb::BackupInfo& info) {
  BackupEntry e;
  e.id = info.backup_id;
  e.created_unix_ms = info.timestamp * 1000;
  e.size_bytes = info.size;
  e.files = info.number_files;
  const std::string& meta = info.app_metadata;
  if (const std::size_t colon = meta.rfind(':'); colon != std::string::npos) {
    e.incarnation = meta.substr(0, colon);
    std::from_chars(meta.data() + colon + 1, meta.data() + meta.size(), e.last_seq);
  }
  return e;
}

rocksdb::BackupEngineOptions EngineOptions(const std::string& backup_dir) {
  rocksdb::BackupEngineOptions options(backup_dir);
  options.share_table_files = true;
  options.share_files_with_checksum = true;  // files are named by checksum: verify can prove them
  options.sync = true;
  options.max_background_operations = 2;
  return options;
}

// The newest backup's id when `id` is 0; kNotFound when there is none such.
Result<BackupEntry> Pick(const std::vector<BackupEntry>& backups, std::uint32_t id,
                         const std::string& backup_dir) {
  if (backups.empty()) return Status::Error(Code::kNotFound, "no backups in " + backup_dir);
  if (id == 0) return backups.back();
  for (const BackupEntry& b : backups) {
    if (b.id == id) return b;
  }
  return Status::Error(Code::kNotFound, fmt::format("no backup {} in {} (daybreak backup list shows them)",
                                                    id, backup_dir));
}

// A read-only view of the backups in `backup_dir`.
Result<std::unique_ptr<rocksdb::BackupEngineReadOnly>> OpenBackups(const std::string& backup_dir) {
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  Status s = FromRocks(
      rocksdb::BackupEngineReadOnly::Open(rocksdb::Env::Default(), EngineOptions(backup_dir), &raw),
      "read the backups in " + backup_dir);
  if (!s.ok()) return s;
  return std::unique_ptr<rocksdb::BackupEngineReadOnly>(raw);
}

// True when some process (a broker, or this one) holds RocksDB's lock on
// the folder.
bool Locked(const std::string& state_dir) {
  const std::string lock = state_dir + "/LOCK";
  const int fd = open(lock.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  // An open-file-description probe: it sees RocksDB's record lock even
  // when this process holds it (F_GETLK would not).
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  close(fd);
  return held;
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The restored store must open as a new incarnation: RocksStore's open makes
// one when M/incarnation is missing, and records where it began.
Status ForgetIncarnation(const std::string& state_dir) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Options options;
  Status s = FromRocks(rocksdb::DB::Open(options, state_dir, &raw), "open the restored store");
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions write;
  write.sync = true;
  return FromRocks(db->Delete(write, rocks::kIncarnationKey), "mark the restored store for a new incarnation");
}

}  // namespace

namespace rocks {

Result<BackupEntry> CreateBackupOf(rocksdb::DB& db, const std::string& backup_dir,
                                   const std::string& incarnation, std::uint64_t last_seq,
                                   std::uint32_t keep) {
  std::error_code ec;
  fs::create_directories(backup_dir, ec);
  if (ec) return Status::Error(Code::kIoError, "cannot make the backup folder " + backup_dir + ": " + ec.message());
  rocksdb::BackupEngine* raw = nullptr;
  Status s = FromRocks(rocksdb::BackupEngine::Open(rocksdb::Env::Default(), EngineOptions(backup_dir), &raw),
                       "open the backups in " + backup_dir);
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = true;  // the memtable too: everything written so far
  rocksdb::BackupID id = 0;
  s = FromRocks(engine->CreateNewBackupWithMetadata(create, &db, Metadata(incarnation, last_seq), &id),
                "back up the run store into " + backup_dir);
  if (!s.ok()) return s;
  if (keep > 0) {
    if (Status purged = FromRocks(engine->PurgeOldBackups(keep), "remove old backups"); !purged.ok()) {
      return purged;
    }
  }
  rocksdb::BackupInfo info;
  s = FromRocks(engine->GetBackupInfo(id, &info), "read the new backup");
  if (!s.ok()) return s;
  return EntryOf(info);
}

}  // namespace rocks

Result<std::vector<BackupEntry>> ListBackups(const std::string& backup_dir) {
  std::error_code ec;
  if (!fs::exists(backup_dir, ec)) return std::vector<BackupEntry>{};
  auto engine = OpenBackups(backup_dir);
  if (!engine.ok()) return engine.status();
  std::vector<rocksdb::BackupInfo> infos;
  engine.value()->GetBackupInfo(&infos);
  std::vector<BackupEntry> out;
  for (const rocksdb::BackupInfo& info : infos) out.push_back(EntryOf(info));
  return out;
}

Result<BackupEntry> VerifyBackup(const std::string& backup_dir, std::uint32_t id) {
  auto backups = ListBackups(backup_dir);
  if (!backups.ok()) return backups.status();
  auto picked = Pick(backups.value(), id, backup_dir);
  if (!picked.ok()) return picked;
  auto engine = OpenBackups(backup_dir);
  if (!engine.ok()) return engine.status();
  const rocksdb::IOStatus verified = engine.value()->VerifyBackup(picked.value().id, /*verify_with_checksum=*/true);
  if (!verified.ok()) {
    return Status::Error(Code::kCorrupt,
                         fmt::format("backup {} in {} is damaged: {}", picked.value().id, backup_dir,
                                     verified.ToString()));
  }
  return picked;
}

Result<Restored> RestoreBackup(const std::string& backup_dir, std::uint32_t id,
                               const std::string& state_dir) {
  if (Locked(state_dir)) {
    return Status::Error(Code::kRejected, "a broker has " + state_dir +
                                              " open: stop it before restoring a backup into it");
  }
  auto verified = VerifyBackup(backup_dir, id);
  if (!verified.ok()) return verified.status();
  Restored restored{verified.value(), ""};
  std::error_code ec;
  if (fs::exists(state_dir, ec) && !fs::is_empty(state_dir, ec)) {
    restored.kept_aside = fs::path(state_dir).lexically_normal().string();
    while (!restored.kept_aside.empty() && restored.kept_aside.back() == '/') restored.kept_aside.pop_back();
    restored.kept_aside += ".before-restore-" + std::to_string(NowMs());
    fs::rename(state_dir, restored.kept_aside, ec);
    if (ec) {
      return Status::Error(Code::kIoError, "cannot move " + state_dir + " aside to " +
                                               restored.kept_aside + ": " + ec.message());
    }
  }
  fs::create_directories(state_dir, ec);
  auto engine = OpenBackups(backup_dir);
  if (!engine.ok()) return engine.status();
  Status s = FromRocks(engine.value()->RestoreDBFromBackup(restored.backup.id, state_dir, state_dir),
                fmt::format("restore backup {} into {}", restored.backup.id, state_dir));
  if (!s.ok()) return s;
  if (Status forgot = ForgetIncarnation(state_dir); !forgot.ok()) return forgot;
  return restored;
}

std::string Describe(const BackupEntry& b) {
  const auto at = std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(b.created_unix_ms));
  return fmt::format("backup {}  {:%Y-%m-%d %H:%M:%S} UTC  {:.1f} MiB  {} files  through {}:{}", b.id,
                     std::chrono::floor<std::chrono::seconds>(at),
                     static_cast<double>(b.size_bytes) / (1 << 20), b.files,
                     b.incarnation.empty() ? "?" : b.incarnation, b.last_seq);
}

int PrintBackups(const std::string& backup_dir) {
  auto backups = ListBackups(backup_dir);
  if (!backups.ok()) {
    fmt::print(stderr, "daybreak-broker: {}\n", backups.status().message());
    return 1;
  }
  if (backups.value().empty()) fmt::print("no backups in {}\n", backup_dir);
  for (const BackupEntry& b : backups.value()) fmt::print("{}\n", Describe(b));
  return 0;
}

int PrintVerify(const std::string& backup_dir, std::uint32_t id) {
  auto verified = VerifyBackup(backup_dir, id);
  if (!verified.ok()) {
    fmt::print(stderr, "daybreak-broker: {}\n", verified.status().message());
    return 1;
  }
  fmt::print("{}: every file is whole (sizes and checksums)\n", Describe(verified.value()));
  return 0;
}

int PrintRestore(const std::string& backup_dir, std::uint32_t id, const std::string& state_dir) {
  auto restored = RestoreBackup(backup_dir, id, state_dir);
  if (!restored.ok()) {
    fmt::print(stderr, "daybreak-broker: {}\n", restored.status().message());
    return 1;
  }
  fmt::print("restored {} into {}\n", Describe(restored.value().backup), state_dir);
  if (!restored.value().kept_aside.empty()) {
    fmt::print("the folder it replaced is kept at {} (delete it when you are sure)\n",
               restored.value().kept_aside);
  }
  fmt::print("the next broker start opens it as a new incarnation: events after seq {} get new ids\n",
             restored.value().backup.last_seq);
  return 0;
}

}  // namespace broker
