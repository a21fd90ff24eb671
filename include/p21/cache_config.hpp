#pragma once

// The cache subsystem's sections, `[cache]` and `[caches.NAME]`, owned by
// the cache (actors/cache/config_keys.cpp declares their keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// How a cache picks its victims: least recently used, or W-TinyLFU (a small
/// LRU window, then admission by estimated frequency).
enum class eviction_policy { lru, tinylfu };

inline std::string to_string(eviction_policy x) {
  switch (x) {
  case eviction_policy::lru:
    return "lru";
  case eviction_policy::tinylfu:
    return "tinylfu";
  }
  return "?";
}

/// Where a cache keeps its entries: in this process alone, or in Redis with
/// this process's cache as a near tier in front (`[caches.NAME] backend`).
enum class cache_backend { local, redis };

inline std::string to_string(cache_backend x) {
  switch (x) {
  case cache_backend::local:
    return "local";
  case cache_backend::redis:
    return "redis";
  }
  return "?";
}

/// One named cache: `[caches.NAME]`, or one of those built from the
/// report's `[cache]` keys (`async`, `git`; the query cache, `db_*`, lives in
/// the db pool so that writes invalidate it in step).
struct named_cache_config {
  size_t max_entries = 512;
  uint64_t max_bytes = 64ull << 20;
  /// Zero: entries do not expire.
  timespan ttl{0};
  eviction_policy policy = eviction_policy::lru;
  /// Actors the cache is split into by key hash.
  size_t shards = 1;
  /// `redis`: the cache is shared through the `[redis]` server, this
  /// process's entries being its near tier.
  cache_backend backend = cache_backend::local;
};

/// `[cache]`: the report's cache keys, plus defaults for every cache.
struct cache_config {
  size_t async_maxsize = 512;
  timespan async_ttl = std::chrono::seconds{3600};
  timespan git_timeout = std::chrono::seconds{30};
  size_t db_maxsize = 1000;
  timespan db_ttl = std::chrono::seconds{300};
  /// Entries of the git cache.
  size_t git_maxsize = 256;
  /// How long a git result may stay cached (it is dropped as soon as the
  /// repository changes anyway).
  timespan git_ttl = std::chrono::minutes{10};
  /// Default eviction policy and shard count of every cache.
  eviction_policy policy = eviction_policy::lru;
  size_t shards = 1;
  /// Default byte budget of every cache.
  uint64_t max_bytes = 64ull << 20;
  /// How long a `get_or_load` loader may run before its waiters get `timeout`.
  timespan load_timeout = std::chrono::seconds{60};
  /// `[caches.NAME]`: further named caches.
  std::map<std::string, named_cache_config> caches;

  /// What a further cache starts from: the policy, shard count and byte
  /// budget above, every other member at its default.
  named_cache_config defaults() const {
    named_cache_config nc;
    nc.policy = policy;
    nc.shards = shards;
    nc.max_bytes = max_bytes;
    return nc;
  }

  /// Every cache actor of the node, `async` included (the git cache lives in
  /// the subprocess pool, the query cache in the db pool).
  std::map<std::string, named_cache_config> all() const {
    auto out = caches;
    auto& async = out["async"] = defaults();
    async.max_entries = async_maxsize;
    async.ttl = async_ttl;
    return out;
  }
};

} // namespace p21
