#pragma once

// TinyLFU's frequency filter (plain C++, owned by one cache shard).

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "key_hash.hpp"

namespace p21::cache_detail {

/// A count-min sketch of 4-bit counters (4 rows) with periodic halving, the
/// frequency filter of TinyLFU. Memory: 16 bytes per entry of capacity
/// (four one-byte counters per row per entry).
class frequency_sketch {
public:
  explicit frequency_sketch(size_t capacity = 16);

  /// Resizes for `capacity` entries (clears all counts).
  void ensure_capacity(size_t capacity);

  /// Counts one access of `hash`; halves every counter after `sample_size`
  /// accesses so that old popularity fades.
  void increment(uint64_t hash);

  /// The estimated access count of `hash`, 0 to 15.
  uint8_t frequency(uint64_t hash) const;

private:
  size_t index(uint64_t hash, int row) const;
  void halve();

  std::vector<uint8_t> table_; // 4 rows, each `width_` counters
  size_t width_ = 0;
  size_t sample_size_ = 0;
  size_t additions_ = 0;
};

// W-TinyLFU's policy, shared by a cache shard (eviction.cpp) and the
// shadows that size its window (window_tuner.cpp), which must decide alike.

/// The protected region's share of the main region (Caffeine's).
constexpr double tinylfu_protected_share = 0.80;

/// Whether TinyLFU admits `candidate` to the main region in place of
/// `victim`: when it is more frequent. Caffeine's guard against hash
/// flooding (an attacker raising a victim's counters so that nothing new
/// gets in): a warm candidate (6 or more) that lost still gets in once in
/// 128. It also lets a key that is becoming popular in past a victim that
/// was (measured: +1.8 points on the recency trace at 1 000 entries).
inline bool tinylfu_admits(const frequency_sketch& sketch, uint64_t candidate, uint64_t victim,
                           std::minstd_rand& rng) {
  auto c = sketch.frequency(candidate);
  return c > sketch.frequency(victim) || (c >= 6 && (rng() & 127) == 0);
}

} // namespace p21::cache_detail
