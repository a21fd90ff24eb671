#pragma once

// A reference ARC (Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead
// Replacement Cache", FAST 2003) for `p21 cache-sim --policy arc` and the
// hit-rate tests: a yardstick to judge the cache's own policies against,
// not a policy a cache can be configured with.

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

namespace p21::app {

/// ARC over `capacity` entries: T1 (seen once recently) and T2 (seen at
/// least twice) hold the cached keys, B1 and B2 the keys recently evicted
/// from each; a hit in B1 grows T1's target size `p`, a hit in B2 shrinks it.
class arc_reference {
public:
  explicit arc_reference(size_t capacity);

  /// One request: returns whether `key` was cached; a miss caches it.
  bool access(const std::string& key);

  /// T1's target size, for tests.
  double target_recent() const { return p_; }

  /// Cached keys (T1 and T2).
  size_t size() const { return t1_.size() + t2_.size(); }

private:
  enum list_id : uint8_t { t1, t2, b1, b2 };
  using order = std::list<std::string>; // most recent first

  struct slot {
    list_id in;
    order::iterator at;
  };

  order& list(list_id id);
  /// Moves `key` (found as `s`) to the front of list `to`.
  void move(slot& s, list_id to);
  /// Drops the least recent key of `from` from the directory entirely.
  void drop_lru(list_id from);
  /// Evicts T1's or T2's least recent key into its ghost list (the paper's
  /// REPLACE); `in_b2` says whether the request hit B2.
  void replace(bool in_b2);

  size_t capacity_;
  double p_ = 0;
  order t1_, t2_, b1_, b2_;
  std::unordered_map<std::string, slot> where_;
};

} // namespace p21::app
