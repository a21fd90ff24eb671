#pragma once

// The cache's state and eviction logic as plain C++, testable without an
// actor system: entries bounded by count and bytes, exact TTL, and two
// eviction policies (exact LRU, and W-TinyLFU with an adaptive window).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/protocol/cache.hpp"

namespace p21::cache_detail {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;

/// Which entries leave when the cache is full (`[cache] policy`).
using eviction = eviction_policy;

/// A shard's share of a cache-wide limit: rounded up, never 0.
inline uint64_t per_shard(uint64_t total, size_t shards) {
  return std::max<uint64_t>(1, (total + shards - 1) / shards);
}

/// A count-min sketch of 4-bit counters (4 rows) with periodic halving, the
/// frequency filter of TinyLFU. Memory: 4 bytes per counter column.
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

/// Settings of one cache (or shard).
struct store_config {
  std::string name = "cache";
  uint64_t max_entries = 512;
  uint64_t max_bytes = 64ull << 20;
  /// Default TTL; zero means entries do not expire.
  timespan ttl{0};
  eviction policy = eviction::lru;
};

/// Bytes one entry costs besides its key and value: the hash-map node, the
/// list node and the bookkeeping, so that `max_bytes` bounds real memory.
size_t entry_overhead();

/// One cache's entries and eviction order. Not thread-safe: an actor owns it.
class cache_store {
public:
  explicit cache_store(store_config cfg);

  // -- lookups ----------------------------------------------------------------

  /// The value, or nullptr when absent or expired (an expired entry is
  /// removed and counted, never returned). Counts a hit or a miss.
  const std::string* get(const std::string& key, time_point now);

  /// Whether `key` is present and fresh, without touching stats or order.
  bool contains(const std::string& key, time_point now) const;

  // -- modifiers --------------------------------------------------------------

  /// Inserts or replaces; `ttl` zero means the default TTL. Refuses with
  /// `invalid_argument` an entry larger than `max_bytes`.
  caf::error put(const std::string& key, std::string value, timespan ttl, time_point now);

  /// Removes `key`; returns whether it was there.
  bool erase(const std::string& key);

  /// Removes everything; returns how many entries went.
  uint64_t clear();

  /// Evicts `fraction` (0..1] of the entries, coldest first.
  shrink_result shrink(double fraction);

  /// Changes the capacity, evicting coldest entries as needed.
  caf::error resize(uint64_t max_entries, uint64_t max_bytes);

  /// Changes the default TTL of future puts.
  void set_ttl(timespan ttl) { cfg_.ttl = ttl; }

  /// Counts one `get_or_load` loader run.
  void record_load(bool success, timespan duration) {
    ++(success ? stats_.load_successes : stats_.load_failures);
    stats_.load_time += duration;
  }

  // -- properties -------------------------------------------------------------

  cache_stats stats() const;
  const store_config& config() const noexcept { return cfg_; }
  size_t size() const noexcept { return map_.size(); }
  uint64_t bytes() const noexcept { return bytes_; }
  /// The admission window's share of the capacity (tinylfu), for tests.
  double window_fraction() const;

  /// Keys from coldest to hottest (eviction order), for tests and tools.
  std::vector<std::string> coldest_first() const;

private:
  enum region : uint8_t { window, probation, protected_main };

  using order = std::list<const std::string*>;

  struct entry {
    std::string value;
    time_point expires;
    uint64_t charge = 0;
    order::iterator pos;
    region where = window;
  };

  using map_type = std::unordered_map<std::string, entry>;

  order& list_of(region r);
  void touch(map_type::iterator i);
  void remove(map_type::iterator i);
  void evict(map_type::iterator i);
  /// Restores the bounds after an insert (or a resize).
  void enforce_bounds();
  /// The entry W-TinyLFU or LRU would evict next, or end().
  map_type::iterator coldest();
  void evict_from_window();
  void evict_from_main(size_t candidates);
  void adapt_window();
  void set_window_size(uint64_t n);
  uint64_t hash(const std::string& key) const;

  store_config cfg_;
  map_type map_;
  order window_;
  order probation_;
  order protected_;
  uint64_t bytes_ = 0;
  cache_stats stats_;
  /// Hashes of keys recently evicted for capacity, oldest first.
  std::deque<uint64_t> ghosts_;
  std::unordered_multiset<uint64_t> ghost_set_;

  // -- W-TinyLFU --
  frequency_sketch sketch_;
  uint64_t window_max_ = 0;
  uint64_t protected_max_ = 0;
  // Hill climbing of the window size (Caffeine's approach): sample the hit
  // rate over a period, keep moving the window the way that improved it.
  uint64_t sample_hits_ = 0;
  uint64_t sample_requests_ = 0;
  double previous_hit_rate_ = 0;
  double step_ = 0;
};

} // namespace p21::cache_detail
