#pragma once

// The cache subsystem's typed interface: byte-string keys and values, so that
// a cache is usable across nodes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/optional.hpp>
#include <caf/replies_to.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// Counters of one cache (or one shard of it).
struct cache_stats {
  std::string name;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t puts = 0;
  uint64_t evictions = 0;
  uint64_t expirations = 0;
  uint64_t load_successes = 0;
  uint64_t load_failures = 0;
  caf::timespan load_time{0};
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t max_entries = 0;
  uint64_t max_bytes = 0;
  /// How often the supervisor restarted this cache (it restarts empty).
  uint64_t restarts = 0;
  /// Keys whose `get_or_load` loader is running, and callers waiting for them.
  uint64_t loads_in_flight = 0;
  uint64_t load_waiters = 0;
  /// Misses on keys evicted for capacity not long before (a ghost list as
  /// long as the cache): the misses a larger cache would have hit.
  uint64_t capacity_misses = 0;
  /// `get_or_load` calls that ran their loader without the cache because its
  /// shard was down or restarting (graceful degradation).
  uint64_t bypasses = 0;
  /// Misses on ghost keys (a ghost list twice as long as the cache) by how
  /// many more entries the cache would have needed to hit them, in
  /// quarter-octave buckets (`ghost_depth_bucket`): a miss-ratio curve up to
  /// three times the current size, for the optimizer's jump.
  std::vector<uint64_t> ghost_hit_depths;

  double hit_rate() const {
    auto total = hits + misses;
    return total == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(total);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_stats& x) {
  return f(caf::meta::type_name("p21.cache_stats"), x.name, x.hits, x.misses, x.puts, x.evictions,
           x.expirations, x.load_successes, x.load_failures, x.load_time, x.entries, x.bytes,
           x.max_entries, x.max_bytes, x.restarts, x.loads_in_flight, x.load_waiters,
           x.capacity_misses, x.bypasses, x.ghost_hit_depths);
}

/// Upper bound (in entries) of bucket `i` of `cache_stats::ghost_hit_depths`
/// (four buckets per doubling).
inline double ghost_depth_bound(size_t i) {
  return std::exp2(double(i) / 4.0);
}

/// The bucket of `ghost_hit_depths` that counts a miss a cache larger by
/// `extra` entries would have hit.
inline size_t ghost_depth_bucket(uint64_t extra) {
  if (extra <= 1)
    return 0;
  auto i = size_t(std::ceil(4.0 * std::log2(double(extra)) - 1e-9));
  return std::min<size_t>(i, 127);
}

/// The metrics a cache shard reports (label `cache`).
namespace cache_metrics {

inline constexpr metric_def hits =
    metric_def{"cache_hits", "Cache lookups that found a live entry.", metric_kind::counter}
        .with(metric_role::request)
        .with(metric_role::hit);
inline constexpr metric_def misses =
    metric_def{"cache_misses", "Cache lookups that found nothing.", metric_kind::counter}
        .with(metric_role::request)
        .with(metric_role::miss);
inline constexpr metric_def puts{"cache_puts", "Values stored in a cache.", metric_kind::counter};
inline constexpr metric_def evictions{"cache_evictions", "Entries evicted to stay within capacity.",
                                      metric_kind::counter};
inline constexpr metric_def hit_ratio{"cache_hit_ratio",
                                      "Share of lookups that hit, since the shard started.",
                                      metric_kind::gauge, "ratio"};
inline constexpr metric_def capacity_misses{"cache_capacity_misses",
                                            "Misses on keys evicted for capacity shortly before.",
                                            metric_kind::counter};
inline constexpr metric_def expirations{
    "cache_expirations", "Entries dropped because their TTL passed.", metric_kind::counter};
inline constexpr metric_def loads{"cache_loads", "get_or_load loaders that succeeded.",
                                  metric_kind::counter};
inline constexpr metric_def load_failures =
    metric_def{"cache_load_failures", "get_or_load loaders that failed.", metric_kind::counter}
        .with(metric_role::error);
inline constexpr metric_def bypasses{
    "cache_bypasses", "get_or_load calls answered by their loader while the cache was down.",
    metric_kind::counter};
inline constexpr metric_def entries{"cache_entries", "Entries in a cache shard.",
                                    metric_kind::gauge};
inline constexpr metric_def bytes{"cache_bytes", "Bytes a cache shard holds, overhead included.",
                                  metric_kind::gauge, "bytes"};
inline constexpr metric_def max_entries{"cache_max_entries", "Entry capacity of a cache shard.",
                                        metric_kind::gauge};
inline constexpr metric_def max_bytes{"cache_max_bytes", "Byte capacity of a cache shard.",
                                      metric_kind::gauge, "bytes"};

// The Redis tier of caches with `backend = "redis"` (the "redis" component).
inline constexpr metric_def redis_round_trips{
    "redis_round_trips", "Round trips to Redis (a pipelined pair counts once).",
    metric_kind::counter};
inline constexpr metric_def redis_latency{"redis_latency_seconds",
                                          "Duration of one round trip to Redis.",
                                          metric_kind::histogram, "seconds"};
inline constexpr metric_def redis_errors{
    "redis_errors", "Redis commands that failed (server down, timeout, refused).",
    metric_kind::counter};
inline constexpr metric_def redis_invalidations{
    "redis_invalidations", "Keys Redis reported changed elsewhere, dropped from the near tier.",
    metric_kind::counter};
inline constexpr metric_def redis_flushes{
    "redis_flushes", "Near-tier flushes after a lost connection or a server flush.",
    metric_kind::counter};
inline constexpr metric_def redis_reconnects{
    "redis_reconnects", "Invalidation connections re-established.", metric_kind::counter};
inline constexpr metric_def redis_near_hits{
    "redis_near_hits", "Lookups of Redis-backed caches served by the near tier.",
    metric_kind::counter};
inline constexpr metric_def redis_near_misses{"redis_near_misses",
                                              "Lookups of Redis-backed caches that went to Redis.",
                                              metric_kind::counter};
inline constexpr metric_def redis_hits{"redis_hits", "Near-tier misses Redis had a value for.",
                                       metric_kind::counter};
inline constexpr metric_def redis_misses{"redis_misses", "Near-tier misses Redis had nothing for.",
                                         metric_kind::counter};
inline constexpr metric_def redis_near_hit_ratio{
    "redis_near_hit_ratio", "Share of lookups of Redis-backed caches the near tier served.",
    metric_kind::gauge, "ratio"};
inline constexpr metric_def redis_connected{
    "redis_connected", "1 while the invalidation connection to Redis is up.", metric_kind::gauge};

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {hits,
                                     misses,
                                     puts,
                                     evictions,
                                     capacity_misses,
                                     expirations,
                                     loads,
                                     load_failures,
                                     bypasses,
                                     entries,
                                     bytes,
                                     hit_ratio,
                                     max_entries,
                                     max_bytes,
                                     redis_round_trips,
                                     redis_latency,
                                     redis_errors,
                                     redis_invalidations,
                                     redis_flushes,
                                     redis_reconnects,
                                     redis_near_hits,
                                     redis_near_misses,
                                     redis_hits,
                                     redis_misses,
                                     redis_near_hit_ratio,
                                     redis_connected};

} // namespace cache_metrics

/// What `shrink` freed.
struct shrink_result {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shrink_result& x) {
  return f(caf::meta::type_name("p21.shrink_result"), x.entries, x.bytes);
}

/// Reply to `load`: either the cached value, or the caller's turn to run the
/// loader and report with `loaded` / `load_failed`. Concurrent callers of the
/// same key wait for that one result instead.
struct load_reply {
  bool hit = false;
  std::string value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_reply& x) {
  return f(caf::meta::type_name("p21.load_reply"), x.hit, x.value);
}

/// The cache actor. A `ttl` of zero means the cache's default TTL.
using cache_actor = caf::typed_actor<
    caf::replies_to<get_atom, std::string>::with<caf::optional<std::string>>,
    caf::replies_to<get_atom,
                    std::vector<std::string>>::with<std::vector<caf::optional<std::string>>>,
    caf::replies_to<put_atom, std::string, std::string, caf::timespan>::with<bool>,
    caf::replies_to<erase_atom, std::string>::with<bool>,
    caf::replies_to<clear_atom>::with<uint64_t>,
    caf::replies_to<load_atom, std::string>::with<load_reply>,
    caf::replies_to<loaded_atom, std::string, std::string, caf::timespan>::with<bool>,
    caf::replies_to<load_failed_atom, std::string, caf::error>::with<bool>,
    caf::replies_to<shrink_atom, double>::with<shrink_result>,
    caf::replies_to<resize_atom, uint64_t, uint64_t>::with<bool>,
    caf::replies_to<set_ttl_atom, caf::timespan>::with<bool>,
    caf::replies_to<stats_atom>::with<cache_stats>,
    caf::replies_to<metrics_atom>::with<metric_set>>;

} // namespace p21
