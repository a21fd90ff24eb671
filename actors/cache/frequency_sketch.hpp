#pragma once

// TinyLFU's frequency filter (plain C++, owned by one cache shard).

#include <cstddef>
#include <cstdint>
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

} // namespace p21::cache_detail
