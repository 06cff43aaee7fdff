// Creating a backup of an open RocksDB (backups.h), for RocksStore. Internal
// to the broker's RocksDB files: nothing else includes RocksDB.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <string>

#include "broker/backups.h"

namespace broker::rocks {

// Backs up `db` into `backup_dir` (made if missing) with everything written
// so far, recording `incarnation` and `last_seq` with it; then keeps only
// the newest `keep` backups (0: all).
common::Result<BackupEntry> CreateBackupOf(rocksdb::DB& db, const std::string& backup_dir,
                                           const std::string& incarnation, std::uint64_t last_seq,
                                           std::uint32_t keep);

}  // namespace broker::rocks
