// p21 cache-sim: replays a key trace through the cache's own eviction code.

#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "actors/cache/cache_store.hpp"
#include "app/bench.hpp"

namespace p21::app {

int run_cache_sim(const std::string& policy, uint64_t capacity, const std::string& file) {
  auto parsed =
      enum_from_string(policy, {eviction_policy::lru, eviction_policy::tinylfu});
  if (!parsed) {
    std::cerr << "p21 cache-sim: unknown policy '" << policy << "' (lru or tinylfu)\n";
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
  nlohmann::json out{{"policy", policy}, {"capacity", capacity}, {"requests", s.hits + s.misses},
                     {"hits", s.hits},   {"misses", s.misses},   {"hit_rate", s.hit_rate()}};
  std::cout << out.dump() << "\n";
  return 0;
}

} // namespace p21::app
