// `[cache]` and `[caches.NAME]`: the keys of the cache actors (and, through
// the Redis library, `[redis]`).

#include "p21/cache_config.hpp"
#include "p21/config_schema.hpp"
#include "redis_component.hpp" // declare_redis_keys

namespace p21 {

using namespace std::chrono_literals;

void declare_cache_keys(config_schema& schema) {
  constexpr int64_t max_entries = 1'000'000'000;
  using C = cache_config;
  schema
      .section<C>("cache", "The report's cache keys, plus defaults for every cache.")
      .count("async_maxsize", &C::async_maxsize, 1, max_entries, "entries of the default cache")
      .live()
      .duration("async_ttl", &C::async_ttl, 1ms, "its TTL")
      .live()
      .duration("git_timeout", &C::git_timeout, 1ms, "run-time bound of one git command")
      .count("db_maxsize", &C::db_maxsize, 1, max_entries,
             "entries of the db pool's query-result cache")
      .duration("db_ttl", &C::db_ttl, 1ms, "its TTL")
      .count("git_maxsize", &C::git_maxsize, 1, max_entries,
             "entries of the subprocess pool's git cache")
      .live()
      .duration("git_ttl", &C::git_ttl, 1ms,
                "longest a git result stays cached (a repository change drops it at once "
                "anyway)")
      .choice("policy", &C::policy, {eviction_policy::lru, eviction_policy::tinylfu},
              "eviction policy of every cache unless `[caches.NAME]` says otherwise")
      .count("shards", &C::shards, 1, 256, "shard actors per cache")
      .size("max_bytes", &C::max_bytes, 1024, "byte budget per cache")
      .live()
      .duration("load_timeout", &C::load_timeout, 1ms,
                "a `get_or_load` loader that does not report by then fails its waiters with "
                "`timeout`");

  using N = named_cache_config;
  // A further cache starts from the [cache] defaults, which are read first.
  auto init = [](const config& cfg, const std::string&, N& nc) {
    nc = cfg.get<cache_config>().defaults();
  };
  schema
      .named_tables<N>(
          "caches", [](config & c) -> auto& { return c.get<cache_config>().caches; }, "Further named caches.",
          init)
      .count("max_entries", &N::max_entries, 1, max_entries, "capacity in entries")
      .live()
      .size("max_bytes", &N::max_bytes, 1024, "byte budget")
      .default_doc("`cache.max_bytes`")
      .live()
      .duration("ttl", &N::ttl, 0s, "TTL; `\"0s\"`: entries do not expire")
      .live()
      .choice("policy", &N::policy, {eviction_policy::lru, eviction_policy::tinylfu},
              "eviction policy")
      .default_doc("`cache.policy`")
      .count("shards", &N::shards, 1, 256, "shard actors")
      .default_doc("`cache.shards`")
      .choice("backend", &N::backend, {cache_backend::local, cache_backend::redis},
              "`local`: entries live in this process; `redis`: shared by every node using "
              "the `[redis]` server, this process's entries being its near tier")
      .reserved_names({"async", "query", "git"},
                      "this cache is configured by the [cache] keys of the report");

  // The cache owns the node's Redis tier: its [redis] section comes with it.
  redis_detail::declare_redis_keys(schema);
}

} // namespace p21
