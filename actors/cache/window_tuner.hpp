#pragma once

// The size of W-TinyLFU's admission window, chosen by miniature simulation
// (plain C++, owned by one cache shard).

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "frequency_sketch.hpp"

namespace p21::cache_detail {

/// A keys-only W-TinyLFU with a fixed window share: the same window,
/// probation and protected regions and the same admission as a cache
/// shard's, without values, locks or byte accounting.
class shadow_tinylfu {
public:
  shadow_tinylfu(size_t capacity, double window_share);

  /// One request of `hash` (a miss inserts it); returns whether it hit.
  /// `sketch` has already counted this request.
  bool access(uint64_t hash, const frequency_sketch& sketch);

  size_t size() const { return count_; }
  size_t capacity() const { return capacity_; }

private:
  enum region : uint8_t { window, probation, protected_main };
  static constexpr uint32_t none = UINT32_MAX;
  struct node {
    uint64_t hash = 0;
    uint32_t prev = none;
    uint32_t next = none;
    uint32_t slot = none; // its place in the table
    region where = window;
  };
  struct list {
    uint32_t head = none;
    uint32_t tail = none;
    size_t size = 0;
  };

  list& list_of(region r) {
    return r == window ? window_ : r == probation ? probation_ : protected_;
  }
  void push_front(list& l, uint32_t i);
  void unlink(list& l, uint32_t i);
  void evict(uint32_t i);

  size_t capacity_;
  size_t window_max_;
  size_t protected_max_;
  std::vector<node> nodes_;
  std::vector<uint32_t> free_;
  // An open-addressing table of hash -> node (linear probing, backward
  // shift on erase): a probe touches one cache line, which matters with
  // seven shadows per request. Each slot keeps its entry's home slot and
  // each node its slot, so that neither an erase nor a shift hashes again.
  struct slot {
    uint64_t hash = 0;
    uint32_t node = none;
    uint32_t home = 0;
  };
  /// The slot holding `hash`, or the empty slot where it would go.
  size_t probe(uint64_t hash, size_t home) const;
  void erase_at(size_t i);
  std::vector<slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  list window_, probation_, protected_;
  std::minstd_rand rng_{1};
};

/// Chooses the admission window's share of a W-TinyLFU cache by running
/// miniature simulations (Waldspurger et al., "Cache Modeling and
/// Optimization using Miniature Simulations", USENIX ATC 2017): keys-only
/// shadow caches, one per candidate share from 1 % (TinyLFU) to 100 % (LRU),
/// see the same spatially sampled requests (every key when the cache is
/// small, a fixed subset of keys scaled down with the cache when it is
/// large); at the end of each period the share whose shadow hit most
/// recently (decayed counts) is the answer. Side by side on the same
/// requests the shadows compare without the sampling noise that stalls a
/// hill climber, and the answer moves at once both ways when the workload
/// changes.
class window_tuner {
public:
  /// The candidate shares.
  static constexpr std::array<double, 7> shares{0.01, 0.03, 0.1, 0.25, 0.5, 0.75, 1.0};

  explicit window_tuner(size_t capacity = 16);

  /// Starts over for a cache of `capacity` entries.
  void reset(size_t capacity);

  /// Records one request of `hash`; returns whether the shares were
  /// compared again (then `best_share` may have changed).
  bool record(uint64_t hash);

  /// The share the shadows recommend (the 1 % start until the first
  /// comparison).
  double best_share() const { return shares[best_]; }

  /// Requests that reached the shadows since the last reset.
  uint64_t sampled() const { return sampled_; }

  /// Sampled requests between two comparisons.
  size_t period() const { return period_; }

  /// The shadows' capacity (the cache's, or the sample's share of it).
  size_t shadow_capacity() const { return shadows_.empty() ? 0 : shadows_.front().capacity(); }

private:
  std::vector<shadow_tinylfu> shadows_;
  frequency_sketch sketch_;
  std::array<double, shares.size()> scores_{};
  std::array<uint64_t, shares.size()> hits_{};
  uint64_t sample_threshold_ = 0; // of 2^32: keys whose spread hash is below it
  size_t period_ = 0;
  size_t seen_ = 0;
  uint64_t sampled_ = 0;
  size_t best_ = 0;
};

} // namespace p21::cache_detail
