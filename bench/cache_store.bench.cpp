// Per-operation cost of the cache's eviction code, without the actor around
// it: what one get or put costs inside a shard; and a handle's hit in a
// running node (`handle_visit`).

#include <benchmark/benchmark.h>

#include "actors/cache/cache_store.hpp"
#include "p21/p21.hpp"

using namespace p21::cache_detail;

namespace {

std::vector<std::string> make_keys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; ++i)
    keys.push_back("key-" + std::to_string(i));
  return keys;
}

void get_hit(benchmark::State& state, eviction policy) {
  store_config cfg;
  cfg.max_entries = 4096;
  cfg.policy = policy;
  cache_store store{cfg};
  auto keys = make_keys(1024);
  auto now = clock::now();
  for (auto& k : keys)
    static_cast<void>(store.put(k, std::string(100, 'v'), p21::timespan{0}, now));
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(store.get(keys[i++ & 1023], now));
}

void put_evict(benchmark::State& state, eviction policy) {
  store_config cfg;
  cfg.max_entries = 1024;
  cfg.policy = policy;
  cache_store store{cfg};
  auto keys = make_keys(16384);
  auto now = clock::now();
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(store.put(keys[i++ & 16383], "v", p21::timespan{0}, now));
}

/// Any thread's hit (what a handle's `get` and `visit` do), 256 hot keys of
/// a 512-entry store with a TTL, as in `p21 bench`'s cache_direct and
/// cache_view; the drains the reads ask for run in the same thread.
void concurrent_hit(benchmark::State& state, bool copy) {
  store_config cfg;
  cfg.max_entries = 512;
  cfg.ttl = std::chrono::hours{1};
  cache_store store{cfg};
  auto keys = make_keys(256);
  auto now = clock::now();
  for (auto& k : keys)
    static_cast<void>(store.put(k, std::string(100, 'v'), p21::timespan{0}, now));
  size_t i = 0;
  std::string out;
  for (auto _ : state) {
    auto& k = keys[i++ & 255];
    bool drain = false;
    if (copy)
      benchmark::DoNotOptimize(store.lookup(k, key_hash(k), out, drain));
    else
      benchmark::DoNotOptimize(store.visit(
          k, key_hash(k), [](std::string_view v) { benchmark::DoNotOptimize(v.data()); }, drain));
    if (drain)
      store.drain();
  }
}

/// A handle's `visit` hit in a running node, what `p21 bench`'s cache_view
/// times: `range(0)` hot keys of a 512-entry cache, with a TTL of an hour
/// (`range(1)` = 1, every hit reads the clock) or none. With 16 keys
/// everything a hit touches stays in the L1 cache: what is left is the hit's
/// own chain of work (docs/cache.md, step 9).
void handle_visit(benchmark::State& state) {
  p21::config cfg;
  cfg.get<p21::logging_config>().level = p21::log_level::warn;
  p21::runtime rt{cfg};
  p21::named_cache_config nc;
  if (state.range(1) != 0)
    nc.ttl = std::chrono::hours{1};
  auto c = p21::cache::create(rt, "visit", nc).value();
  auto keys = make_keys(static_cast<size_t>(state.range(0)));
  for (auto& k : keys)
    static_cast<void>(c.put(k, std::string(100, 'v')));
  size_t i = 0;
  for (auto _ : state)
    benchmark::DoNotOptimize(c.visit(keys[i++ % keys.size()],
                                     [](std::string_view v) { benchmark::DoNotOptimize(v.data()); }));
}

} // namespace

BENCHMARK(handle_visit)->ArgNames({"keys", "ttl"})->ArgsProduct({{16, 256}, {0, 1}});
BENCHMARK_CAPTURE(concurrent_hit, copy, true);
BENCHMARK_CAPTURE(concurrent_hit, visit, false);

BENCHMARK_CAPTURE(get_hit, lru, eviction::lru);
BENCHMARK_CAPTURE(get_hit, tinylfu, eviction::tinylfu);
BENCHMARK_CAPTURE(put_evict, lru, eviction::lru);
BENCHMARK_CAPTURE(put_evict, tinylfu, eviction::tinylfu);

BENCHMARK_MAIN();
