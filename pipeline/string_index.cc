#include "pipeline/string_index.h"

#include <cstring>

namespace pipeline {

StringIndex::StringIndex(size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2) cap <<= 1;
  slots_.resize(cap);
  mask_ = cap - 1;
  keys_.reserve(expected);
  values_.reserve(expected);
}

uint64_t StringIndex::Hash(std::string_view key) {
  // 8 bytes at a time, then a murmur-style finalizer: loan ids are short.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ key.size();
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, key.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, key.data() + i, key.size() - i);
  h = (h ^ tail) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

// The slot position uses the high half of the hash and the tag the low
// half, so a tag match is close to a key match.
uint32_t StringIndex::Find(std::string_view key) const {
  const uint64_t h = Hash(key);
  const uint32_t tag = static_cast<uint32_t>(h);
  for (size_t i = (h >> 32) & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.entry == kAbsent) return kAbsent;
    if (s.tag == tag && keys_[s.entry] == key) return values_[s.entry];
  }
}

uint32_t StringIndex::FindOrInsert(std::string_view key, uint64_t h,
                                   uint32_t value) {
  if ((keys_.size() + 1) * 2 > slots_.size()) Grow();
  const uint32_t tag = static_cast<uint32_t>(h);
  for (size_t i = (h >> 32) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.entry == kAbsent) {
      s = Slot{tag, static_cast<uint32_t>(keys_.size())};
      keys_.push_back(key);
      values_.push_back(value);
      return kAbsent;
    }
    if (s.tag == tag && keys_[s.entry] == key) return values_[s.entry];
  }
}

void StringIndex::Grow() {
  slots_.assign(slots_.size() * 2, Slot{});
  mask_ = slots_.size() - 1;
  for (uint32_t e = 0; e < keys_.size(); ++e) {
    const uint64_t h = Hash(keys_[e]);
    size_t i = (h >> 32) & mask_;
    while (slots_[i].entry != kAbsent) i = (i + 1) & mask_;
    slots_[i] = Slot{static_cast<uint32_t>(h), e};
  }
}

}  // namespace pipeline
