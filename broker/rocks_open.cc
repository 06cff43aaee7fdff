#include "broker/rocks_open.h"

#include <fcntl.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "broker/rocks_keys.h"
#include "broker/rocks_store.h"
#include "broker/rocks_upgrade.h"

namespace broker::rocks {
namespace {

namespace fs = std::filesystem;
using common::Code;
using common::Result;
using common::Status;

std::string RandomHex() {
  std::random_device entropy;
  std::string hex;
  for (int i = 0; i < 4; ++i) hex += fmt::format("{:08x}", entropy());
  return hex;
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Missing, or a folder with nothing in it: the one place a database is made.
Result<bool> IsFresh(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::Error(Code::kIoError, "cannot open the state folder " + dir + ": " + ec.message());
  }
  if (!fs::exists(st)) return true;
  if (!fs::is_directory(st)) return Status::Error(Code::kIoError, "cannot open the state folder " + dir + ": it is not a folder");
  const bool empty = fs::is_empty(dir, ec);
  if (ec) return Status::Error(Code::kIoError, "cannot open the state folder " + dir + ": " + ec.message());
  return empty;
}

// Errors that mean the files are damaged (as opposed to a lock held by
// another broker, or a folder we may not write).
bool IsDamage(const rocksdb::Status& s) {
  return s.IsCorruption() || s.IsInvalidArgument() || s.IsPathNotFound() ||
         (s.IsIOError() && s.ToString().find("No such file") != std::string::npos);
}

std::string Refusal(const std::string& dir, const std::string& damage) {
  return "the state folder " + dir + " holds a damaged database: " + damage +
         ". The broker does not start on partial state and never makes a new database over an "
         "old one. Restore the folder from a backup, or start once with --accept-data-loss to go "
         "on with what can be recovered (the store then gets a new incarnation and an alert says "
         "what was lost)";
}

Result<std::uint64_t> LastSeq(rocksdb::DB& db) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev("e/\xff");
  if (Status s = FromRocks(it->status(), "find the last event"); !s.ok()) return s;
  if (!it->Valid() || !it->key().starts_with("e/")) return std::uint64_t{0};
  return std::stoull(it->key().ToString().substr(2));
}

Result<std::string> GetOr(rocksdb::DB& db, const std::string& key) {
  std::string value;
  rocksdb::Status got = db.Get(rocksdb::ReadOptions(), key, &value);
  if (got.IsNotFound()) return std::string();
  if (!got.ok()) return FromRocks(got, "read " + key);
  return value;
}

bool HasData(rocksdb::DB& db) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  it->SeekToFirst();
  return it->Valid();
}

// A copy of the store as it was, beside its folder, before a migration
// rewrites it.
Status CheckpointBeforeUpgrade(rocksdb::DB& db, const std::string& dir, const std::string& from) {
  rocksdb::Checkpoint* raw = nullptr;
  if (Status s = FromRocks(rocksdb::Checkpoint::Create(&db, &raw), "checkpoint"); !s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  const std::string path = fmt::format("{}.format-{}-{}", fs::path(dir).lexically_normal().string(),
                                       from, NowMs());
  if (Status s = FromRocks(checkpoint->CreateCheckpoint(path), "checkpoint to " + path); !s.ok()) return s;
  spdlog::info("store format {} kept as it was in {} before the upgrade to format {}", from, path,
               kStoreFormat);
  return Status();
}

// Checks the format, migrates an older store and writes the identity (and a
// new incarnation when a loss was accepted), all in one synced batch.
Status Settle(OpenedDb& opened, const std::string& dir, bool fresh) {
  rocksdb::DB& db = *opened.db;
  auto format = GetOr(db, kStoreFormatKey);
  if (!format.ok()) return format.status();
  auto id = GetOr(db, kIdKey);
  if (!id.ok()) return id.status();
  auto incarnation = GetOr(db, kIncarnationKey);
  if (!incarnation.ok()) return incarnation.status();
  const bool has_data = !fresh && HasData(db);
  std::string from = format.value();
  if (from.empty() && has_data) from = "1";  // release 1 wrote no format key
  if (!from.empty() && from != std::to_string(kStoreFormat)) {
    char* end = nullptr;
    const long number = std::strtol(from.c_str(), &end, 10);
    if (*end != '\0' || number < 1 || number > kStoreFormat) {
      return Status::Error(Code::kRejected, "the store's format is " + from + "; this broker reads format " +
                                                std::to_string(kStoreFormat) + " and older");
    }
  }
  rocksdb::WriteBatch batch;
  if (!from.empty() && from != std::to_string(kStoreFormat)) {
    if (Status s = CheckpointBeforeUpgrade(db, dir, from); !s.ok()) return s;
    if (from == "1") {
      if (Status s = RenameReleaseOneKeys(db, batch); !s.ok()) return s;
    }
  }
  batch.Put(kStoreFormatKey, std::to_string(kStoreFormat));
  opened.id = id.value().empty() ? RandomHex() : id.value();
  opened.incarnation = incarnation.value();
  auto from_text = GetOr(db, kIncarnationFromKey);
  if (!from_text.ok()) return from_text.status();
  if (!from_text.value().empty()) {
    const std::string& t = from_text.value();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), opened.incarnation_from);
    if (ec != std::errc() || end != t.data() + t.size()) {
      return Status::Error(Code::kCorrupt, std::string(kIncarnationFromKey) + " holds \"" + t +
                                               "\", not a sequence number");
    }
  }
  if (opened.incarnation.empty() || !opened.data_loss.empty()) {
    opened.incarnation = RandomHex();
    auto last = LastSeq(db);
    if (!last.ok()) return last.status();
    opened.incarnation_from = last.value();
    batch.Put(kIncarnationFromKey, std::to_string(opened.incarnation_from));
    if (!fresh) {
      spdlog::warn("store {} begins incarnation {} after event {}: event ids from here on read "
                   "{}:<seq>, so none is mistaken for an earlier store's",
                   dir, opened.incarnation, opened.incarnation_from, opened.incarnation);
    }
  }
  batch.Put(kIdKey, opened.id);
  batch.Put(kIncarnationKey, opened.incarnation);
  if (!opened.data_loss.empty()) {
    batch.Put(fmt::format("{}{:020}", kDataLossPrefix, NowMs()), opened.data_loss);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  if (Status s = FromRocks(db.Write(sync, &batch), "write the store's identity"); !s.ok()) return s;
  if (!from.empty() && from != std::to_string(kStoreFormat)) {
    spdlog::info("store upgraded from format {} to {}", from, kStoreFormat);
  }
  return Status();
}

}  // namespace

Result<OpenedDb> OpenDatabase(const rocksdb::Options& base, const OpenRequest& request) {
  const std::string& dir = request.dir;
  auto fresh = IsFresh(dir);
  if (!fresh.ok()) return fresh.status();
  rocksdb::Options options = base;
  // A record torn by a crash mid-write was never acknowledged and is
  // dropped; corruption anywhere before the tail is an error.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.track_and_verify_wals_in_manifest = true;  // a lost or short closed WAL fails
  options.paranoid_checks = true;
  options.create_if_missing = fresh.value();
  if (fresh.value()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::Error(Code::kIoError, "cannot create " + dir + ": " + ec.message());
  }
  std::string damage;
  OpenedDb opened;
  rocksdb::DB* raw = nullptr;
  if (!fresh.value() && !fs::exists(fs::path(dir) / "CURRENT")) {
    damage = "its CURRENT file is missing";
  } else {
    rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
    if (!s.ok() && !IsDamage(s)) return FromRocks(s, "open " + dir);
    if (!s.ok()) damage = s.ToString();
  }
  if (!damage.empty()) {
    if (!request.accept_data_loss) return Status::Error(Code::kCorrupt, Refusal(dir, damage));
    spdlog::critical("{}: repairing it as --accept-data-loss asks", damage);
    if (Status s = FromRocks(rocksdb::RepairDB(dir, options), "repair " + dir); !s.ok()) return s;
    options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    if (Status s = FromRocks(rocksdb::DB::Open(options, dir, &raw), "open " + dir + " after repair");
        !s.ok()) {
      return s;
    }
    opened.data_loss = "the database was damaged (" + damage +
                       ") and repaired; whatever RocksDB could not recover is lost";
  }
  opened.db.reset(raw);
  if (opened.data_loss.empty() && !fresh.value()) {
    auto incarnation = GetOr(*opened.db, kIncarnationKey);
    if (!incarnation.ok()) return incarnation.status();
    auto last = LastSeq(*opened.db);
    if (!last.ok()) return last.status();
    const std::uint64_t written = HighWater::Read(dir, incarnation.value());
    if (written > last.value()) {
      const std::string what = fmt::format(
          "it ends at event {} but event {} was written and announced: {} events are missing "
          "(a write-ahead log cut short, or unsynced writes lost at a power loss)",
          last.value(), written, written - last.value());
      if (!request.accept_data_loss) return Status::Error(Code::kCorrupt, Refusal(dir, what));
      opened.data_loss = what;
    }
  }
  if (Status s = Settle(opened, dir, fresh.value()); !s.ok()) return s;
  if (!opened.data_loss.empty()) {
    spdlog::critical("store {} accepted data loss: {}; new incarnation {}", dir, opened.data_loss,
                     opened.incarnation);
  }
  return opened;
}

Result<HighWater> HighWater::Open(const std::string& dir) {
  const std::string path = (fs::path(dir) / kHighWaterFile).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(Code::kIoError, "cannot open " + path);
  return HighWater(fd);
}

HighWater::HighWater(HighWater&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

HighWater::~HighWater() {
  if (fd_ >= 0) ::close(fd_);
}

HighWater::Mark HighWater::ReadMark(const std::string& dir) {
  std::ifstream in(fs::path(dir) / kHighWaterFile);
  Mark mark;
  if (!(in >> mark.incarnation >> mark.seq)) return Mark();
  return mark;
}

std::uint64_t HighWater::Read(const std::string& dir, const std::string& incarnation) {
  const Mark mark = ReadMark(dir);
  if (incarnation.empty() || mark.incarnation != incarnation) return 0;
  return mark.seq;
}

void HighWater::Record(const std::string& incarnation, std::uint64_t seq) {
  // Fixed width at offset 0: each record replaces the last whole.
  const std::string line = fmt::format("{} {:020}\n", incarnation, seq);
  if (::pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    spdlog::warn("cannot record the store's high-water mark (seq {})", seq);
  }
}

}  // namespace broker::rocks
