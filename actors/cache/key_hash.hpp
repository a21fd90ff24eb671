#pragma once

// The hashes of a cache's keys.

#include <cstdint>
#include <functional>
#include <string_view>

namespace p21::cache_detail {

/// The hash every part of a cache uses for `key` (the shard, the segment,
/// the sketch, the access records).
inline uint64_t key_hash(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

/// splitmix64's finalizer: spreads a hash over all bits, so that the shard
/// (low bits of the hash) and the segment and bucket (of this) do not
/// correlate.
inline uint64_t spread(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

} // namespace p21::cache_detail
