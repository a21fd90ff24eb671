// Per-operation cost of the cache's eviction code, without the actor around
// it: what one get or put costs inside a shard; a handle's hit in a running
// node (`handle_visit`); and what a contended operation costs in CPU
// (`contended_cpu`).

#include <benchmark/benchmark.h>

#include <random>
#include <thread>

#include <sys/resource.h>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/traces.hpp"
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

/// CPU time of the whole process (every thread: the clients, liburcu's,
/// the scheduler's), in nanoseconds.
double process_cpu_ns() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return double(t.tv_sec) * 1e9 + double(t.tv_usec) * 1e3; };
  return s(u.ru_utime) + s(u.ru_stime);
}

/// `p21 bench`'s cache_contended loop on p21 alone, with what it costs in
/// CPU: `range(0)` threads, a million operations each (Zipf 0.99 over
/// 100 000 keys, 10 % puts and a put after each miss, 25 000 entries), the
/// cache full after the first run. `range(1)` = 1 gives each thread a cache
/// of its own: nothing of a cache is shared, so what two threads still cost
/// beyond one is in what every cache shares (docs/cache.md, step 11).
/// Counters: `ops_per_s`, and `cpu_ns_per_op`, the process's CPU time over
/// the operations; on a machine of two cores the throughput stops growing
/// once that doubles.
void contended_cpu(benchmark::State& state) {
  auto threads = static_cast<size_t>(state.range(0));
  bool separate = state.range(1) != 0;
  constexpr size_t per_thread = 1'000'000;
  std::vector<std::vector<std::string>> keys(threads);
  std::vector<std::vector<bool>> is_put(threads);
  for (size_t t = 0; t < threads; ++t) {
    std::mt19937_64 rng{t + 7};
    for (auto k : zipf(per_thread, 100'000, 0.99, t + 1)) {
      keys[t].push_back("key-" + std::to_string(k));
      is_put[t].push_back(rng() % 10 == 0);
    }
  }
  p21::config cfg;
  cfg.get<p21::logging_config>().level = p21::log_level::warn;
  p21::runtime rt{cfg};
  p21::named_cache_config nc;
  nc.max_entries = 25'000;
  nc.max_bytes = 1ull << 32;
  std::vector<p21::cache> caches;
  for (size_t t = 0; t < (separate ? threads : 1); ++t)
    caches.push_back(p21::cache::create(rt, "contended_" + std::to_string(t), nc).value());
  const std::string value(100, 'v');
  double ops = 0, cpu_ns = 0, wall_s = 0;
  for (auto _ : state) {
    std::vector<std::thread> workers;
    auto cpu0 = process_cpu_ns();
    auto t0 = std::chrono::steady_clock::now();
    for (size_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        auto& c = caches[separate ? t : 0];
        for (size_t i = 0; i < per_thread; ++i) {
          auto& k = keys[t][i];
          bool hit = false;
          if (!is_put[t][i]) {
            auto v = c.get(k);
            hit = v && v->has_value();
          }
          if (!hit)
            static_cast<void>(c.put(k, value));
        }
        p21::release_thread();
      });
    for (auto& w : workers)
      w.join();
    auto wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(wall);
    wall_s += wall;
    cpu_ns += process_cpu_ns() - cpu0;
    ops += double(threads * per_thread);
  }
  state.counters["ops_per_s"] = ops / wall_s;
  state.counters["cpu_ns_per_op"] = cpu_ns / ops;
}

} // namespace

BENCHMARK(handle_visit)->ArgNames({"keys", "ttl"})->ArgsProduct({{16, 256}, {0, 1}});
BENCHMARK_CAPTURE(concurrent_hit, copy, true);
BENCHMARK_CAPTURE(concurrent_hit, visit, false);
BENCHMARK(contended_cpu)
    ->ArgNames({"threads", "separate"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({2, 1})
    ->Args({4, 0})
    ->Args({4, 1})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(get_hit, lru, eviction::lru);
BENCHMARK_CAPTURE(get_hit, tinylfu, eviction::tinylfu);
BENCHMARK_CAPTURE(put_evict, lru, eviction::lru);
BENCHMARK_CAPTURE(put_evict, tinylfu, eviction::tinylfu);

BENCHMARK_MAIN();
