// How full the state folder's filesystem is. The broker checks it before
// every write so that it never drives RocksDB into ENOSPC (where Debian's
// librocksdb, built with assertions, can abort): it stops taking work while
// less than a reserve is free, and resumes when space returns.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace broker {

// Bytes an unprivileged writer may still use on the filesystem of `path`.
common::Result<std::uint64_t> FreeBytes(const std::string& path);

// kNoSpace, with a message naming the folder and both figures, when fewer
// than `reserve_bytes` are free; OK otherwise (and when statvfs fails: the
// write itself then says what is wrong).
common::Status CheckSpace(const std::string& path, std::uint64_t reserve_bytes);

}  // namespace broker
