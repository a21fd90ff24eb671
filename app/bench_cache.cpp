// Cache rows of p21 bench: the handle against raw CAF and against a plain
// mutex-guarded LRU, plus the finer cache figures.

#include <iomanip>
#include <iostream>
#include <list>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <malloc.h>

#include <caf/all.hpp>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/traces.hpp"
#include "app/arc.hpp"
#include "app/bench_rows.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/metrics.hpp"
#include "p21/profiling.hpp"
#include "p21/subsystems.hpp"

namespace p21::app {

namespace {

using namespace cache_detail;

constexpr size_t hot_keys = 256;

std::string key_of(size_t i) {
  return "key-" + std::to_string(i % hot_keys);
}

const std::string value_100(100, 'v');

// -- the raw-CAF baseline: an equivalent LRU actor --------------------------------

using raw_lru_actor =
    caf::typed_actor<caf::replies_to<get_atom, std::string>::with<caf::optional<std::string>>,
                     caf::replies_to<put_atom, std::string, std::string>::with<bool>>;

struct raw_lru_state {
  std::unique_ptr<cache_store> store;
};

raw_lru_actor::behavior_type raw_lru(raw_lru_actor::stateful_pointer<raw_lru_state> self) {
  self->state.store = std::make_unique<cache_store>(store_config{});
  return {
      [=](get_atom, const std::string& k) -> caf::result<caf::optional<std::string>> {
        if (auto v = self->state.store->get(k, cache_detail::clock::now()))
          return caf::optional<std::string>{*v};
        return caf::optional<std::string>{};
      },
      [=](put_atom, const std::string& k, std::string& v) {
        static_cast<void>(
            self->state.store->put(k, std::move(v), timespan{0}, cache_detail::clock::now()));
        return true;
      },
  };
}

// -- the hand-written baseline: a textbook LRU behind one std::mutex -------------

/// What an application would write instead of using a cache library: a hash
/// map of list positions and a list in recency order, one lock around both.
class mutex_lru {
public:
  explicit mutex_lru(size_t capacity)
    : capacity_(capacity) {
    map_.reserve(capacity);
  }

  std::optional<std::string> get(const std::string& key) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = map_.find(key);
    if (i == map_.end())
      return std::nullopt;
    order_.splice(order_.begin(), order_, i->second);
    return i->second->second;
  }

  void put(const std::string& key, std::string value) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = map_.find(key);
    if (i != map_.end()) {
      i->second->second = std::move(value);
      order_.splice(order_.begin(), order_, i->second);
      return;
    }
    order_.emplace_front(key, std::move(value));
    map_.emplace(key, order_.begin());
    if (map_.size() > capacity_) {
      map_.erase(order_.back().first);
      order_.pop_back();
    }
  }

private:
  std::mutex mtx_;
  size_t capacity_;
  std::list<std::pair<std::string, std::string>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> map_;
};

std::vector<std::string> hot_key_list() {
  std::vector<std::string> keys;
  for (size_t i = 0; i < hot_keys; ++i)
    keys.push_back(key_of(i));
  return keys;
}

/// `c` with the hot keys put in it.
cache loaded(caf::expected<cache> c, const char* what) {
  if (!c)
    throw std::runtime_error(what + render(c.error()));
  for (size_t i = 0; i < hot_keys; ++i)
    if (auto err = c->put(key_of(i), value_100))
      throw std::runtime_error(render(err));
  return *c;
}

cache open_loaded(runtime& rt) {
  return loaded(cache::open(rt, "async"), "no async cache: ");
}

/// A cache of 512 entries without a TTL, loaded with the hot keys: the
/// same cache as the mutex LRU beside it and as scripts/caffeine_bench.sh's
/// Caffeine (`maximumSize(512)`, no expiry). The node's `async` cache has a
/// TTL of an hour, and a hit on an entry with a TTL reads the clock (3 to
/// 4 ns here), which neither of the others does.
cache create_loaded(runtime& rt) {
  named_cache_config nc;
  nc.max_entries = 512;
  return loaded(cache::create(rt, "bench_hot", nc), "");
}

} // namespace

uint64_t settled_rss() {
  cache::wait_for_freed_values();
  ::malloc_trim(0);
  return status_bytes("VmRSS:");
}

row_result measure_cache_lookup(const config& base, size_t runs) {
  row_result r{"cache_lookup",
               {"raw CAF: scoped_actor + typed request per get (CAF defaults)", {}},
               {"p21::cache handle get (hit)", {}},
               std::nullopt};
  auto keys = hot_key_list();
  auto at = [&](size_t i) -> const std::string& {
    return keys[i % keys.size()];
  };
  {
    caf::actor_system_config cfg; // CAF's defaults: work stealing
    caf::actor_system sys{cfg};
    auto lru = sys.spawn(raw_lru);
    {
      caf::scoped_actor self{sys};
      for (auto& k : keys)
        self->request(lru, caf::infinite, put_atom::value, k, value_100)
            .receive([](bool) {}, [](caf::error&) {});
    }
    time_batched(r.baseline, runs * 4, 50, [&](size_t i) {
      caf::scoped_actor self{sys};
      self->request(lru, std::chrono::seconds{10}, get_atom::value, at(i))
          .receive([](caf::optional<std::string>&) {}, [](caf::error&) {});
    });
    caf::anon_send_exit(lru, caf::exit_reason::user_shutdown);
  }
  runtime rt{quiet(base)};
  auto c = open_loaded(rt);
  time_batched(r.perfect21, runs * 4, 1000, [&](size_t i) { benchmark_sink(c.get(at(i))); });
  return r;
}

row_result measure_profiling_cache_lookup(const config& base, size_t runs) {
  row_result r{"profiling_cache_lookup",
               {"cache handle get (hit), actor profiling off", {}},
               {"cache handle get (hit), actor profiling on", {}},
               std::nullopt};
  auto keys = hot_key_list();
  auto at = [&](size_t i) -> const std::string& {
    return keys[i % keys.size()];
  };
  auto off_cfg = quiet(base);
  off_cfg.runtime.profiling = false;
  auto on_cfg = quiet(base);
  on_cfg.runtime.profiling = true;
  runtime off_rt{off_cfg};
  runtime on_rt{on_cfg};
  auto off = open_loaded(off_rt);
  auto on = open_loaded(on_rt);
  // Alternating, so that neither side gets the quieter moments.
  for (size_t k = 0; k < runs * 4; ++k) {
    time_batched(r.baseline, 1, 1000, [&](size_t i) { benchmark_sink(off.get(at(i + k))); });
    time_batched(r.perfect21, 1, 1000, [&](size_t i) { benchmark_sink(on.get(at(i + k))); });
  }
  return r;
}

row_result measure_profiling_request(const config&, size_t runs) {
  row_result r{"profiling_request",
               {"typed request to an LRU actor, plain spawn", {}},
               {"the same actor spawned with a profile", {}},
               std::nullopt};
  auto keys = hot_key_list();
  auto at = [&](size_t i) -> const std::string& {
    return keys[i % keys.size()];
  };
  metrics_registry registry; // outlives the actors, which record until they exit
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto plain = sys.spawn(raw_lru);
  auto profiled = spawn_profiled(sys, std::make_shared<actor_profile>(registry, "lru"), raw_lru);
  {
    caf::scoped_actor self{sys};
    for (auto& lru : {plain, profiled})
      for (auto& k : keys)
        self->request(lru, caf::infinite, put_atom::value, k, value_100)
            .receive([](bool) {}, [](caf::error&) {});
  }
  // Alternating, so that neither side gets the quieter moments.
  caf::scoped_actor self{sys};
  auto get = [&](const raw_lru_actor& lru, size_t i) {
    self->request(lru, std::chrono::seconds{10}, get_atom::value, at(i))
        .receive([](caf::optional<std::string>&) {}, [](caf::error&) {});
  };
  for (size_t k = 0; k < runs * 4; ++k) {
    time_batched(r.baseline, 1, 200, [&](size_t i) { get(plain, i + k); });
    time_batched(r.perfect21, 1, 200, [&](size_t i) { get(profiled, i + k); });
  }
  for (auto& lru : {plain, profiled})
    caf::anon_send_exit(lru, caf::exit_reason::user_shutdown);
  return r;
}

row_result measure_cache_direct(const config& base, size_t runs) {
  row_result r{"cache_direct",
               {"std::mutex + a textbook LRU, called directly", {}},
               {"p21::cache handle get (hit)", {}},
               std::nullopt};
  auto keys = hot_key_list();
  auto at = [&](size_t i) -> const std::string& {
    return keys[i % keys.size()];
  };
  // Side by side, alternating, so that neither gets the quieter moments.
  runtime rt{quiet(base)};
  auto c = create_loaded(rt);
  mutex_lru lru{512};
  for (auto& k : keys)
    lru.put(k, value_100);
  // Warm-up, untimed: the shard's owner is still applying the puts above
  // when the first gets run, and a few hundred thousand gets settle the
  // read buffer's drains into their steady rhythm. Without it the short
  // timed part (tens of thousands of gets, a few ms) caught that start in
  // some runs and not in others (a handle hit of 70 or 200 ns).
  for (size_t i = 0; i < 200'000; ++i) {
    benchmark_sink(lru.get(at(i)));
    benchmark_sink(c.get(at(i)));
  }
  for (size_t k = 0; k < runs * 4; ++k) {
    time_batched(r.baseline, 1, 2000, [&](size_t i) { benchmark_sink(lru.get(at(i))); });
    time_batched(r.perfect21, 1, 2000, [&](size_t i) { benchmark_sink(c.get(at(i))); });
  }
  return r;
}

row_result measure_cache_view(const config& base, size_t runs) {
  row_result r{"cache_view",
               {"std::mutex + a textbook LRU, called directly (a copy)", {}},
               {"p21::cache handle visit (hit, no copy)", {}},
               std::nullopt};
  auto keys = hot_key_list();
  auto at = [&](size_t i) -> const std::string& {
    return keys[i % keys.size()];
  };
  runtime rt{quiet(base)};
  auto c = create_loaded(rt);
  mutex_lru lru{512};
  for (auto& k : keys)
    lru.put(k, value_100);
  auto view = [&](size_t i) {
    benchmark_sink(c.visit(at(i), [](std::string_view v) { benchmark_sink(v.size()); }));
  };
  // Warm-up, untimed, as in cache_direct.
  for (size_t i = 0; i < 200'000; ++i) {
    benchmark_sink(lru.get(at(i)));
    view(i);
  }
  for (size_t k = 0; k < runs * 4; ++k) {
    time_batched(r.baseline, 1, 2000, [&](size_t i) { benchmark_sink(lru.get(at(i))); });
    time_batched(r.perfect21, 1, 2000, view);
  }
  return r;
}

row_result measure_cache_contended(const config& base, size_t runs, size_t threads) {
  // `threads` threads, Zipf(0.99) over 100 000 keys, 90 % get / 10 % put (a
  // miss is followed by a put, as a read-through cache does), a fixed
  // number of operations per thread; a sample is the wall time per
  // operation of one run.
  auto n = std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  row_result r{threads == 4 ? std::string{"cache_contended"}
                            : "cache_contended_" + std::to_string(threads),
               {"std::mutex + a textbook LRU, " + n, {}},
               {"p21::cache handle, " + n, {}},
               std::nullopt};
  constexpr uint32_t universe = 100'000;
  constexpr size_t capacity = 25'000;
  size_t per_thread = 100'000;
  std::vector<std::vector<std::string>> keys(threads);
  std::vector<std::vector<bool>> is_put(threads);
  for (size_t t = 0; t < threads; ++t) {
    std::mt19937_64 rng{t + 7};
    for (auto k : zipf(per_thread, universe, 0.99, t + 1)) {
      keys[t].push_back("key-" + std::to_string(k));
      is_put[t].push_back(rng() % 10 == 0);
    }
  }
  auto run = [&](auto& get, auto& put) {
    std::vector<std::thread> workers;
    auto t0 = clock::now();
    for (size_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (size_t i = 0; i < per_thread; ++i) {
          auto& k = keys[t][i];
          if (is_put[t][i] || !get(k))
            put(k);
        }
        release_thread();
      });
    for (auto& w : workers)
      w.join();
    return seconds_since(t0) / static_cast<double>(threads * per_thread);
  };
  runtime rt{quiet(base)};
  named_cache_config nc;
  nc.max_entries = capacity;
  nc.max_bytes = 1ull << 32;
  auto c = cache::create(rt, "bench_contended_" + std::to_string(threads), nc);
  if (!c)
    throw std::runtime_error(render(c.error()));
  auto samples = std::max<size_t>(3, runs / 2);
  for (size_t k = 0; k < samples; ++k) {
    {
      mutex_lru lru{capacity};
      auto get = [&](const std::string& key) {
        return lru.get(key).has_value();
      };
      auto put = [&](const std::string& key) {
        lru.put(key, value_100);
      };
      r.baseline.samples.push_back(run(get, put));
    }
    static_cast<void>(c->clear());
    auto get = [&](const std::string& key) {
      auto v = c->get(key);
      return v && v->has_value();
    };
    auto put = [&](const std::string& key) {
      static_cast<void>(c->put(key, value_100));
    };
    r.perfect21.samples.push_back(run(get, put));
  }
  return r;
}

// -- details ----------------------------------------------------------------------

namespace {

double hit_rate(eviction policy, uint64_t capacity, const std::vector<uint32_t>& trace) {
  store_config cfg;
  cfg.max_entries = capacity;
  cfg.max_bytes = 1ull << 40;
  cfg.policy = policy;
  cache_store store{cfg};
  auto now = cache_detail::clock::now();
  for (auto k : trace) {
    auto key = std::to_string(k);
    if (!store.get(key, now))
      static_cast<void>(store.put(key, {}, timespan{0}, now));
  }
  return store.stats().hit_rate();
}

/// The simulator's reference ARC on the same trace, as a yardstick.
double arc_hit_rate(uint64_t capacity, const std::vector<uint32_t>& trace) {
  arc_reference arc{capacity};
  uint64_t hits = 0;
  for (auto k : trace)
    hits += arc.access(std::to_string(k)) ? 1 : 0;
  return trace.empty() ? 0.0 : static_cast<double>(hits) / static_cast<double>(trace.size());
}

} // namespace

nlohmann::json cache_details(const config& base, bool quick) {
  nlohmann::json out;
  runtime rt{quiet(base)};
  auto c = open_loaded(rt);
  // get_many: per-key cost of a 100-key batch vs single gets.
  {
    std::vector<std::string> keys;
    for (size_t i = 0; i < 100; ++i)
      keys.push_back(key_of(i));
    size_t rounds = quick ? 50 : 200;
    auto t = clock::now();
    for (size_t i = 0; i < rounds; ++i)
      static_cast<void>(c.get_many(keys));
    auto per_key_many = seconds_since(t) / static_cast<double>(rounds * keys.size());
    t = clock::now();
    for (size_t i = 0; i < rounds * 10; ++i)
      static_cast<void>(c.get(key_of(i)));
    auto per_key_single = seconds_since(t) / static_cast<double>(rounds * 10);
    out["get_many_per_key_s"] = per_key_many;
    out["get_per_key_s"] = per_key_single;
  }
  // Throughput with 1, 2, 4 shards under 2 client threads.
  {
    nlohmann::json tp = nlohmann::json::object();
    size_t per_thread = quick ? 5'000 : 20'000;
    for (size_t shards : {1, 2, 4}) {
      auto name = "bench_shards_" + std::to_string(shards);
      auto sc = cache::create(
          rt, name, named_cache_config{10'000, 64 << 20, {}, eviction_policy::lru, shards});
      if (!sc)
        throw std::runtime_error(render(sc.error()));
      for (size_t i = 0; i < hot_keys; ++i)
        static_cast<void>(sc->put(key_of(i), value_100));
      auto t = clock::now();
      std::vector<std::thread> clients;
      for (int th = 0; th < 2; ++th)
        clients.emplace_back([&, th] {
          for (size_t i = 0; i < per_thread; ++i)
            static_cast<void>(sc->get(key_of(i * 7 + static_cast<size_t>(th))));
          release_thread();
        });
      for (auto& th : clients)
        th.join();
      tp[std::to_string(shards)] = static_cast<double>(2 * per_thread) / seconds_since(t);
    }
    out["throughput_ops_per_s_by_shards"] = tp;
  }
  // lru vs tinylfu hit rates on generated streams, same code as the actor.
  {
    size_t n = quick ? 200'000 : 1'000'000;
    uint32_t universe = 100'000;
    std::vector<std::pair<std::string, std::vector<uint32_t>>> traces;
    traces.emplace_back("zipf_0.9", zipf(n, universe, 0.9, 1));
    traces.emplace_back("zipf_1.0", zipf(n, universe, 1.0, 2));
    traces.emplace_back("scan_polluted", scan_polluted(n, universe, 3));
    traces.emplace_back("recency", recency(n, 4));
    nlohmann::json rates = nlohmann::json::array();
    for (auto& [name, trace] : traces)
      for (uint64_t capacity : {100, 1'000, 10'000})
        rates.push_back({{"trace", name},
                         {"capacity", capacity},
                         {"lru", hit_rate(eviction::lru, capacity, trace)},
                         {"arc", arc_hit_rate(capacity, trace)},
                         {"tinylfu", hit_rate(eviction::tinylfu, capacity, trace)}});
    out["hit_rates"] = rates;
  }
  // Memory per entry: RSS growth per cached 100-byte value. From a
  // settled RSS: the hit-rate runs above freed tens of MiB that glibc kept,
  // and the store reused them, so the growth showed 76 to 85 bytes an
  // entry, less than the value itself.
  {
    size_t entries = quick ? 200'000 : 1'000'000;
    auto before = settled_rss();
    {
      store_config cfg;
      cfg.max_entries = entries;
      cfg.max_bytes = 1ull << 40;
      cache_store store{cfg};
      auto now = cache_detail::clock::now();
      for (size_t i = 0; i < entries; ++i)
        static_cast<void>(store.put("key-" + std::to_string(i), value_100, timespan{0}, now));
      auto after = status_bytes("VmRSS:");
      out["memory_entries"] = entries;
      out["rss_bytes_per_entry"] =
          static_cast<double>(after - before) / static_cast<double>(entries);
      out["accounted_bytes_per_entry"] =
          static_cast<double>(store.bytes()) / static_cast<double>(entries);
    }
  }
  // Print.
  std::cout << std::fixed << std::setprecision(2);
  std::cout << "cache: get_many " << out["get_many_per_key_s"].get<double>() * 1e6
            << " us/key vs single get " << out["get_per_key_s"].get<double>() * 1e6 << " us/key\n";
  std::cout << "cache: 2 client threads, ops/s by shards:";
  for (auto& [k, v] : out["throughput_ops_per_s_by_shards"].items())
    std::cout << " " << k << "=" << std::setprecision(0) << v.get<double>();
  std::cout << std::setprecision(3) << "\n";
  std::cout << "cache: hit rate lru, arc (reference) and tinylfu\n";
  for (auto& r : out["hit_rates"])
    std::cout << "  " << std::left << std::setw(14) << r["trace"].get<std::string>() << std::right
              << " capacity " << std::setw(6) << r["capacity"].get<uint64_t>() << "  lru "
              << r["lru"].get<double>() << "  arc " << r["arc"].get<double>() << "  tinylfu "
              << r["tinylfu"].get<double>() << "\n";
  std::cout << std::setprecision(0) << "cache: " << out["rss_bytes_per_entry"].get<double>()
            << " bytes of RSS per cached 100-byte value at " << out["memory_entries"].get<size_t>()
            << " entries (accounted: " << out["accounted_bytes_per_entry"].get<double>() << ")\n";
  return out;
}

} // namespace p21::app
