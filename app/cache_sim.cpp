// p21 cache-sim: replays a key trace through the cache's own eviction code,
// or with --threads through a live cache's handle from several threads.

#include <atomic>
#include <fstream>
#include <iostream>
#include <limits>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/cache/cache_store.hpp"
#include "app/arc.hpp"
#include "app/bench.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/db_config.hpp"
#include "p21/runtime.hpp"
#include "p21/subsystems.hpp"

namespace p21::app {

namespace {

/// How many requests a replaying thread may be ahead of the slowest one.
constexpr size_t max_lead = 64;

struct sim_counts {
  uint64_t hits = 0;
  uint64_t misses = 0;
};

/// The trace through a live cache's handle from `threads` threads; thread i
/// takes requests i, i + threads, ...; a miss is followed by a put.
sim_counts replay_live(eviction_policy policy, uint64_t capacity,
                       const std::vector<std::string>& trace, size_t threads) {
  config cfg;
  cfg.logging.level = log_level::error;
  cfg.get<database_config>().path = ":memory:";
  runtime rt{cfg};
  named_cache_config nc;
  nc.max_entries = capacity;
  nc.max_bytes = std::numeric_limits<uint64_t>::max() / 2;
  nc.policy = policy;
  auto c = cache::create(rt, "cache-sim", nc);
  if (!c)
    throw std::runtime_error(render(c.error()));
  std::vector<sim_counts> counts(threads);
  // How far each thread got (requests done). Unpaced, one thread ran
  // thousands of requests ahead of another, so the cache saw several parts
  // of the trace at once: on a trace whose working set moves (recency) that
  // halved even LRU's hit rate, which measured the replay, not the cache.
  std::vector<std::atomic<size_t>> done(threads);
  for (auto& d : done)
    d.store(0);
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      auto& n = counts[t];
      size_t mine = 0;
      for (size_t i = t; i < trace.size(); i += threads, ++mine) {
        // Stay within `max_lead` requests of the slowest thread.
        for (size_t u = 0; u < threads; ++u)
          while (done[u].load(std::memory_order_acquire) + max_lead < mine)
            std::this_thread::yield();
        auto v = c->get(trace[i]);
        if (v && *v) {
          ++n.hits;
        } else {
          ++n.misses;
          static_cast<void>(c->put(trace[i], {}));
        }
        done[t].store(mine + 1, std::memory_order_release);
      }
      done[t].store(std::numeric_limits<size_t>::max() / 2, std::memory_order_release);
      release_thread();
    });
  for (auto& w : workers)
    w.join();
  sim_counts total;
  for (auto& n : counts) {
    total.hits += n.hits;
    total.misses += n.misses;
  }
  return total;
}

} // namespace

int run_cache_sim(const std::string& policy, uint64_t capacity, const std::string& file,
                  size_t threads) {
  bool arc = policy == "arc";
  auto parsed = enum_from_string(policy, {eviction_policy::lru, eviction_policy::tinylfu});
  if (!parsed && !arc) {
    std::cerr << "p21 cache-sim: unknown policy '" << policy << "' (lru, tinylfu or arc)\n";
    return 2;
  }
  if (arc && threads > 0) {
    std::cerr << "p21 cache-sim: arc is a reference for the simulator only (no --threads)\n";
    return 2;
  }
  if (capacity == 0) {
    std::cerr << "p21 cache-sim: --capacity must be at least 1\n";
    return 2;
  }
  std::ifstream in_file;
  if (!file.empty()) {
    in_file.open(file);
    if (!in_file) {
      std::cerr << "p21 cache-sim: cannot open " << file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
  }
  std::istream& in = file.empty() ? std::cin : in_file;
  nlohmann::json out{{"policy", policy}, {"capacity", capacity}};
  if (threads > 0) {
    std::vector<std::string> trace;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      trace.push_back(line);
    }
    auto n = replay_live(*parsed, capacity, trace, threads);
    auto requests = n.hits + n.misses;
    out.update({{"threads", threads},
                {"requests", requests},
                {"hits", n.hits},
                {"misses", n.misses},
                {"hit_rate", requests ? double(n.hits) / double(requests) : 0.0}});
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (arc) {
    arc_reference ref{capacity};
    uint64_t hits = 0, requests = 0;
    std::string key;
    while (std::getline(in, key)) {
      if (!key.empty() && key.back() == '\r')
        key.pop_back();
      ++requests;
      hits += ref.access(key) ? 1 : 0;
    }
    out.update({{"requests", requests},
                {"hits", hits},
                {"misses", requests - hits},
                {"hit_rate", requests ? double(hits) / double(requests) : 0.0}});
    std::cout << out.dump() << "\n";
    return 0;
  }
  cache_detail::store_config cfg;
  cfg.name = "cache-sim";
  cfg.max_entries = capacity;
  cfg.max_bytes = std::numeric_limits<uint64_t>::max() / 2;
  cfg.policy = *parsed;
  cache_detail::cache_store store{cfg};
  auto now = cache_detail::clock::now();
  std::string key;
  while (std::getline(in, key)) {
    if (!key.empty() && key.back() == '\r')
      key.pop_back();
    if (!store.get(key, now))
      static_cast<void>(store.put(key, {}, timespan{0}, now));
  }
  auto s = store.stats();
  out.update({{"requests", s.hits + s.misses},
              {"hits", s.hits},
              {"misses", s.misses},
              {"hit_rate", s.hit_rate()}});
  if (*parsed == eviction_policy::tinylfu)
    out["window"] = store.window_fraction(); // the admission window's final share
  std::cout << out.dump() << "\n";
  return 0;
}

} // namespace p21::app
