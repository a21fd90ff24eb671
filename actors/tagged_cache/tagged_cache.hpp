#pragma once

// A cache whose entries say what they were computed from (tags: the tables a
// query read, the repository a git command ran in), so that a change to one
// source drops exactly the entries built on it. Order, TTL and the entry
// bound come from the cache's table (`cache_store`, kept out of this
// header); the values live decoded beside it, so a hit costs a copy and
// never a deserialization. Its own library (`p21_tagged_cache`), shared by
// the db pool's query cache and the subprocess pool's git cache.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/timespan.hpp>

namespace p21::cache_detail {

class cache_store;

using time_point = std::chrono::steady_clock::time_point;

/// A tagged cache's bounds.
struct tagged_cache_config {
  /// Its name in logs and stats.
  std::string name = "tagged";
  /// Entries held at most.
  uint64_t max_entries = 512;
  /// How long an entry lives; zero: until evicted or invalidated.
  caf::timespan ttl{0};
};

/// Tagged entries with invalidation by tag and a generation check: a value
/// computed before an invalidation of one of its tags is never stored after
/// it. Not thread-safe: its owner locks (or is an actor).
class tagged_cache {
public:
  // -- constructors -----------------------------------------------------------

  /// `max_value_bytes`: what the values may cost in all, as their owner
  /// measures them (`put`'s `bytes`); 0: bounded by entries only.
  explicit tagged_cache(const tagged_cache_config& cfg, uint64_t max_value_bytes = 0);
  ~tagged_cache();

  tagged_cache(tagged_cache&&) noexcept;
  tagged_cache& operator=(tagged_cache&&) noexcept;

  // -- lookups ----------------------------------------------------------------

  /// The value under `key`, or nullptr when absent or expired.
  std::shared_ptr<const void> find(const std::string& key, time_point now);

  /// `find`, typed: `T` must be the type `put` stored under `key`.
  template <class T>
  std::shared_ptr<const T> get(const std::string& key, time_point now) {
    return std::static_pointer_cast<const T>(find(key, now));
  }

  /// Call before computing a value: pass the result to `put`.
  uint64_t generation() const noexcept { return generation_; }

  // -- modifiers --------------------------------------------------------------

  /// Stores `value` under `key`, tagged with `tags`, unless everything or one
  /// of `tags` was invalidated after `generation` (the value may be stale)
  /// or it costs more than `max_value_bytes` alone. `bytes`: what it costs;
  /// past `max_value_bytes` in all, the coldest entries leave (down to
  /// seven eighths, so that a full cache scans its order once per eighth).
  /// Returns whether it was stored.
  bool put(const std::string& key, std::shared_ptr<const void> value,
           const std::vector<std::string>& tags, uint64_t generation, time_point now,
           uint64_t bytes = 0);

  /// Drops every entry tagged `tag`; returns how many went (an entry the
  /// store expired but nobody looked up since still counts).
  size_t invalidate(const std::string& tag);

  /// Drops everything; nothing computed before is stored afterwards.
  void clear();

  /// Sets the capacity in entries (at least 1); returns it.
  uint64_t resize(uint64_t entries);

  // -- properties -------------------------------------------------------------

  uint64_t capacity() const noexcept;

  /// The store's ghost hits by depth (`cache_stats::ghost_hit_depths`).
  std::vector<uint64_t> ghost_hit_depths() const;

  /// Entries present (including ones expired but not yet looked up).
  size_t size() const noexcept;

  /// What the values held cost (`put`'s `bytes`), entries the store evicted
  /// but this cache has not forgotten yet included.
  uint64_t value_bytes() const noexcept { return value_bytes_; }

private:
  /// The generation `tag` was last invalidated at (0: never).
  uint64_t invalidated_at(const std::string& tag) const;

  /// Forgets values and tag entries of keys the store has already evicted.
  void compact(time_point now);

  /// Forgets `key`'s value and its place under its tags.
  void drop(const std::string& key);

  /// Evicts the coldest entries until the values cost at most `target`.
  void evict_bytes(uint64_t target, time_point now);

  struct entry {
    std::shared_ptr<const void> value;
    uint64_t bytes = 0;
    std::vector<std::string> tags;
  };

  std::unique_ptr<cache_store> store_;
  std::unordered_map<std::string, entry> values_;
  uint64_t max_value_bytes_ = 0;
  uint64_t value_bytes_ = 0;
  std::map<std::string, std::set<std::string>> keys_by_tag_;
  std::map<std::string, uint64_t> invalidated_at_;
  uint64_t cleared_at_ = 0;
  uint64_t generation_ = 0;
};

} // namespace p21::cache_detail
