#pragma once

// The db pool's query cache: SELECT results keyed by (sql, parameters), each
// tagged with the tables it read, with exact invalidation.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "p21/config.hpp" // timespan
#include "p21/protocol/db_pool.hpp"
#include "tagged_cache.hpp" // p21_tagged_cache

namespace p21::db_detail {

/// SELECT results with exact invalidation: a write to a table drops every
/// result that read it, before the write is acknowledged; a result whose
/// tables were written while it ran is not cached at all. Shared by the pool
/// actor and its `db` handles (thread-safe): a handle answers a hit without
/// a message; the pool invalidates before it acknowledges a write, so no
/// handle reads past one.
class query_cache {
public:
  using clock = std::chrono::steady_clock;

  /// The table name a write reports when it may have changed any table (a
  /// schema change): everything is dropped.
  static constexpr const char* any_table = "*";

  // -- constructors -----------------------------------------------------------

  /// `max_bytes`: what the results and their keys may cost in all
  /// (`result_bytes`); a single result costing more than an eighth of it
  /// is never cached, so that one query cannot flush the rest.
  query_cache(uint64_t entries, timespan ttl, uint64_t max_bytes = 64ull << 20);

  /// The SQL and each parameter's kind and bytes, length-prefixed so that
  /// no two different (sql, params) pairs share a key.
  static std::string key(const std::string& sql, const std::vector<db_value>& params);

  // -- lookups ----------------------------------------------------------------

  /// A cached result; counts a hit, and a miss when `count_miss` (a handle
  /// that misses asks the pool, which counts the miss).
  std::optional<db_result> get(const std::string& key, bool count_miss = true);

  /// Call before running a read: pass the result to `put`.
  uint64_t seq() const;

  /// Hits and misses so far.
  std::pair<uint64_t, uint64_t> counts() const;

  // -- modifiers --------------------------------------------------------------

  /// Caches `r` unless a table in `reads` was written after `seq` or it
  /// costs more than an eighth of `max_bytes`.
  void put(const std::string& key, const db_result& r, const std::vector<std::string>& reads,
           uint64_t seq);

  /// Records committed writes to `tables` and drops what they made stale.
  void invalidate(const std::vector<std::string>& tables);

  /// Drops everything (a restart, or another process changed the file).
  void flush();

  // -- properties -------------------------------------------------------------

  /// What the cached results cost now, and at most.
  uint64_t bytes() const;
  uint64_t max_bytes() const noexcept { return max_bytes_; }

  /// The most one result may cost to be cached: an eighth of `max_bytes`.
  uint64_t max_entry_bytes() const noexcept { return max_bytes_ / 8; }

private:
  uint64_t max_bytes_;
  mutable std::mutex mtx_;
  cache_detail::tagged_cache results_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

} // namespace p21::db_detail
