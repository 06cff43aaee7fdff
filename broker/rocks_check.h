// The consistency check over an open RocksDB, shared by RocksStore::Check
// (the broker's own store) and CheckStoreFolder (store_check.h). Internal to
// the broker's RocksDB files: nothing else includes RocksDB.
#pragma once

#include <rocksdb/db.h>

#include <cstdint>

#include "broker/store_check.h"

namespace broker::rocks {

// Reads all of `db` at one snapshot. `high_water` is the last event seq the
// broker recorded as written for the store's incarnation (0: not compared).
// An error only when RocksDB cannot be read. `snapshot`: read at one
// snapshot (a primary that goes on writing); false for a secondary.
common::Result<CheckReport> CheckDatabase(rocksdb::DB& db, std::uint64_t high_water, bool snapshot);

}  // namespace broker::rocks
