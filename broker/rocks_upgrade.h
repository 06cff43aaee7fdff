// Store format upgrades that rewrite keys (see OpenDatabase for the order:
// checkpoint, rewrite, new format key, one batch).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"

namespace broker::rocks {

// Format 1 -> 2: scheduled run keys name the local date only. Adds every
// rename to `batch`.
common::Status RenameReleaseOneKeys(rocksdb::DB& db, rocksdb::WriteBatch& batch);

}  // namespace broker::rocks
