// W-TinyLFU's hit rate against LRU and a reference ARC on synthetic traces
// of each kind (issue 15): frequency-biased, scan-polluted, looping,
// recency-biased (up to 10 000 entries) and one that changes from recency
// to frequency and back, plus the window tuner's shadows on their own.
// Seeded: the same numbers every run.

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/traces.hpp"
#include "actors/cache/window_tuner.hpp"
#include "app/arc.hpp"

using namespace p21;
using namespace p21::cache_detail;

namespace {

const time_point t0 = time_point{} + std::chrono::hours{1};

double store_hit_rate(eviction policy, uint64_t capacity, const std::vector<uint32_t>& trace) {
  store_config cfg;
  cfg.max_entries = capacity;
  cfg.max_bytes = 1ull << 40;
  cfg.policy = policy;
  cache_store s{cfg};
  uint64_t hits = 0;
  for (auto k : trace) {
    auto key = std::to_string(k);
    if (s.get(key, t0))
      ++hits;
    else
      static_cast<void>(s.put(key, {}, timespan{0}, t0));
  }
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

double arc_hit_rate(uint64_t capacity, const std::vector<uint32_t>& trace) {
  app::arc_reference arc{capacity};
  uint64_t hits = 0;
  for (auto k : trace)
    hits += arc.access(std::to_string(k)) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

struct rates {
  double lru, arc, tinylfu;
};

rates measure(uint64_t capacity, const std::vector<uint32_t>& trace) {
  return {store_hit_rate(eviction::lru, capacity, trace), arc_hit_rate(capacity, trace),
          store_hit_rate(eviction::tinylfu, capacity, trace)};
}

/// tinylfu within `slack` of the better of LRU and ARC.
void check_not_behind(const char* name, uint64_t capacity, const std::vector<uint32_t>& trace,
                      double slack) {
  auto r = measure(capacity, trace);
  INFO(name << " at " << capacity << ": lru " << r.lru << ", arc " << r.arc << ", tinylfu "
            << r.tinylfu);
  CHECK(r.tinylfu >= r.lru - slack);
  CHECK(r.tinylfu >= r.arc - slack);
}

constexpr double one_point = 0.01;

} // namespace

TEST_CASE("arc_reference: a key seen twice survives a one-time scan, and p adapts") {
  app::arc_reference arc{4};
  CHECK_FALSE(arc.access("hot"));
  CHECK(arc.access("hot")); // now in T2
  for (int i = 0; i < 4; ++i)
    CHECK_FALSE(arc.access("scan" + std::to_string(i))); // scan0 goes to B1
  CHECK(arc.size() == 4);
  CHECK(arc.target_recent() == 0);
  // Asked for again after its eviction from T1 (a B1 hit): T1 deserved
  // more room.
  CHECK_FALSE(arc.access("scan0"));
  CHECK(arc.target_recent() > 0);
  for (int i = 10; i < 30; ++i)
    CHECK_FALSE(arc.access("scan" + std::to_string(i)));
  CHECK(arc.access("hot"));
}

TEST_CASE("tinylfu is not behind lru or arc on a frequency-biased trace (zipf 0.99)") {
  auto trace = zipf(400'000, 100'000, 0.99, 11);
  for (uint64_t capacity : {100, 1'000})
    check_not_behind("zipf 0.99", capacity, trace, one_point);
}

TEST_CASE("tinylfu is not behind lru or arc on a scan-polluted trace") {
  // With the hill climber this needed two points (the scans made each
  // sample's hit rate jump and the window wandered); the shadows keep it
  // within a few hundredths of a point of ARC.
  auto trace = scan_polluted(600'000, 100'000, 12);
  for (uint64_t capacity : {100, 1'000})
    check_not_behind("zipf 0.9 + scans", capacity, trace, one_point);
}

TEST_CASE("tinylfu keeps part of a loop larger than the cache, where lru and arc get nothing") {
  for (uint64_t capacity : {100, 1'000}) {
    auto trace = loop(200'000, static_cast<uint32_t>(capacity * 3 / 2));
    auto r = measure(capacity, trace);
    INFO("loop at " << capacity << ": lru " << r.lru << ", arc " << r.arc << ", tinylfu "
                    << r.tinylfu);
    CHECK(r.lru == 0);
    CHECK(r.tinylfu > r.arc + 0.3);
  }
}

TEST_CASE("tinylfu reaches lru's hit rate on a recency-biased trace") {
  auto trace = recency(600'000, 13);
  for (uint64_t capacity : {100, 1'000, 10'000})
    check_not_behind("recency", capacity, trace, one_point);
}

TEST_CASE("tinylfu reaches lru's hit rate on a narrower, faster sliding window") {
  // 500 keys sliding by one every two requests. Once the window grows, the
  // protected region's quota shrinks: its entries, no longer used, must go
  // back to probation to be evicted (left in protected they stayed for
  // good: tinylfu got 0.04 at 100 entries on such a trace, lru 0.19).
  std::mt19937_64 rng{18};
  std::vector<uint32_t> trace(300'000);
  for (size_t i = 0; i < trace.size(); ++i)
    trace[i] = static_cast<uint32_t>(i / 2 + rng() % 500);
  for (uint64_t capacity : {100, 1'000})
    check_not_behind("sliding 500", capacity, trace, one_point);
}

TEST_CASE("a resized tinylfu cache keeps its window's share") {
  store_config cfg;
  cfg.max_entries = 1'000;
  cfg.max_bytes = 1ull << 40;
  cfg.policy = eviction::tinylfu;
  cache_store s{cfg};
  for (auto k : recency(100'000, 19)) {
    auto key = std::to_string(k);
    if (!s.get(key, t0))
      static_cast<void>(s.put(key, {}, timespan{0}, t0));
  }
  REQUIRE(s.window_fraction() >= 0.5);
  auto before = s.window_fraction();
  REQUIRE(!s.resize(500, 1ull << 40));
  CHECK(s.size() <= 500);
  CHECK(s.window_fraction() == Approx(before).margin(0.01));
}

TEST_CASE("tinylfu's window follows a workload from recency to frequency and back") {
  // 200 000 requests of a sliding working set (LRU's case: the window
  // grows), 400 000 of Zipf 0.99 (TinyLFU's: it shrinks), 200 000 of
  // another sliding set (it grows again).
  auto trace = phases(200'000, 14);
  constexpr uint64_t capacity = 1'000;
  store_config cfg;
  cfg.max_entries = capacity;
  cfg.max_bytes = 1ull << 40;
  cfg.policy = eviction::tinylfu;
  cache_store s{cfg};
  uint64_t hits = 0;
  std::vector<double> windows;
  for (size_t i = 0; i < trace.size(); ++i) {
    auto key = std::to_string(trace[i]);
    if (s.get(key, t0))
      ++hits;
    else
      static_cast<void>(s.put(key, {}, timespan{0}, t0));
    if (i + 1 == 200'000 || i + 1 == 600'000 || i + 1 == trace.size())
      windows.push_back(s.window_fraction());
  }
  auto tinylfu = static_cast<double>(hits) / static_cast<double>(trace.size());
  auto lru = store_hit_rate(eviction::lru, capacity, trace);
  auto arc = arc_hit_rate(capacity, trace);
  INFO("phases: lru " << lru << ", arc " << arc << ", tinylfu " << tinylfu << "; window "
                      << windows[0] << " -> " << windows[1] << " -> " << windows[2]);
  CHECK(windows[0] >= 0.5);
  CHECK(windows[1] <= 0.1);
  CHECK(windows[2] >= 0.5);
  CHECK(tinylfu >= lru - one_point);
  CHECK(tinylfu >= arc - one_point);
}

TEST_CASE("a shadow whose window is the whole capacity is an exact LRU") {
  auto trace = zipf(50'000, 2'000, 0.8, 15);
  shadow_tinylfu shadow{100, 1.0};
  frequency_sketch sketch{100};
  uint64_t shadow_hits = 0;
  for (auto k : trace) {
    auto h = key_hash(std::to_string(k));
    sketch.increment(h);
    shadow_hits += shadow.access(h, sketch) ? 1 : 0;
    REQUIRE(shadow.size() <= 100);
  }
  auto lru = store_hit_rate(eviction::lru, 100, trace);
  CHECK(static_cast<double>(shadow_hits) / static_cast<double>(trace.size()) == Approx(lru));
}

TEST_CASE("the window tuner picks lru's share for a sliding working set and tinylfu's for a loop") {
  auto best_after = [](const std::vector<uint32_t>& trace) {
    window_tuner tuner{1'000};
    for (auto k : trace)
      tuner.record(key_hash(std::to_string(k)));
    return tuner.best_share();
  };
  CHECK(best_after(recency(200'000, 16)) >= 0.5);
  CHECK(best_after(loop(100'000, 1'500)) <= 0.03);
  CHECK(best_after(zipf(200'000, 100'000, 0.99, 17)) <= 0.1);
}

TEST_CASE("a large cache's window tuner simulates a sample of its keys") {
  window_tuner small{500};
  CHECK(small.shadow_capacity() == 500);
  window_tuner large{100'000};
  CHECK(large.shadow_capacity() >= 990);
  CHECK(large.shadow_capacity() <= 1'010);
  // About 1 % of the keys reach the shadows, each every time.
  for (int round = 0; round < 2; ++round)
    for (uint32_t k = 0; k < 100'000; ++k)
      large.record(key_hash(std::to_string(k)));
  CHECK(large.sampled() % 2 == 0);
  CHECK(large.sampled() >= 2 * 900);
  CHECK(large.sampled() <= 2 * 1'100);
}
