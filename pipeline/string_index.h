// An open-addressing hash map from string_view to uint32_t, for the per-loan
// lookups (duplicate ids, allowed states and products, summary groups) that
// std::unordered_map makes slow at a million loans. Keys are not copied.
// Slots are 8 bytes (hash tag + entry number) so a million keys fit in 16 MB,
// and Prefetch() lets a caller hide the cache miss of a coming insert.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace pipeline {

class StringIndex {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;

  explicit StringIndex(size_t expected = 16);

  static uint64_t Hash(std::string_view key);

  // Returns the value stored for `key`, or inserts `value` and returns
  // kAbsent. The key's characters must outlive the index. REQUIRES: `value`
  // is not kAbsent; `hash` is Hash(key).
  uint32_t FindOrInsert(std::string_view key, uint32_t value) {
    return FindOrInsert(key, Hash(key), value);
  }
  uint32_t FindOrInsert(std::string_view key, uint64_t hash, uint32_t value);
  // The value for `key`, or kAbsent.
  uint32_t Find(std::string_view key) const;
  // Hints that `hash` will be looked up soon.
  void Prefetch(uint64_t hash) const {
    __builtin_prefetch(&slots_[(hash >> 32) & mask_]);
  }
  size_t size() const { return keys_.size(); }

 private:
  struct Slot {
    uint32_t tag = 0;          // low 32 bits of the hash
    uint32_t entry = kAbsent;  // index into keys_ / values_
  };
  void Grow();

  std::vector<Slot> slots_;
  std::vector<std::string_view> keys_;
  std::vector<uint32_t> values_;
  size_t mask_ = 0;
};

}  // namespace pipeline
