#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <list>
#include <random>
#include <thread>
#include <unordered_map>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/traces.hpp"
#include "p21/cache.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1h;

store_config lru(uint64_t entries, uint64_t bytes = 1ull << 30) {
  store_config cfg;
  cfg.max_entries = entries;
  cfg.max_bytes = bytes;
  return cfg;
}

store_config tinylfu(uint64_t entries) {
  auto cfg = lru(entries);
  cfg.policy = eviction::tinylfu;
  return cfg;
}

/// Replays `keys` (a miss is followed by a put) and returns the hit count.
uint64_t replay(cache_store& store, const std::vector<uint32_t>& keys) {
  uint64_t hits = 0;
  for (auto k : keys) {
    auto key = std::to_string(k);
    if (store.get(key, t0))
      ++hits;
    else
      REQUIRE(!store.put(key, "v", timespan{0}, t0));
  }
  return hits;
}

/// The textbook LRU, as the reference for the store's `lru` policy.
uint64_t reference_lru_hits(size_t capacity, const std::vector<uint32_t>& keys) {
  std::list<uint32_t> order;
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> pos;
  uint64_t hits = 0;
  for (auto k : keys) {
    auto i = pos.find(k);
    if (i != pos.end()) {
      ++hits;
      order.splice(order.begin(), order, i->second);
      continue;
    }
    order.push_front(k);
    pos[k] = order.begin();
    if (order.size() > capacity) {
      pos.erase(order.back());
      order.pop_back();
    }
  }
  return hits;
}

config cache_test_config() {
  auto cfg = test_config();
  cfg.get<cache_config>().load_timeout = 5s;
  return cfg;
}

} // namespace

// -- the store, as plain logic ---------------------------------------------------

TEST_CASE("lru evicts the least recently used entry") {
  cache_store s{lru(3)};
  for (auto k : {"a", "b", "c"})
    REQUIRE(!s.put(k, "v", timespan{0}, t0));
  REQUIRE(s.get("a", t0));
  REQUIRE(!s.put("d", "v", timespan{0}, t0));
  CHECK_FALSE(s.contains("b", t0));
  CHECK(s.coldest_first() == std::vector<std::string>{"c", "a", "d"});
  CHECK(s.stats().evictions == 1);
}

TEST_CASE("a cache's ghost list counts misses by how many more entries would have hit them") {
  cache_store s{lru(4)};
  for (int k = 0; k < 12; ++k) // keys 0..7 evicted, in order
    REQUIRE(!s.put("k" + std::to_string(k), "v", timespan{0}, t0));
  CHECK_FALSE(s.get("k7", t0)); // evicted last: one more entry would have held it
  CHECK_FALSE(s.get("k0", t0)); // evicted first: 8 more
  CHECK_FALSE(s.get("k2", t0)); // 6 more: beyond the cache's size, not a capacity miss
  auto st = s.stats();
  CHECK(st.capacity_misses == 1);
  REQUIRE(st.ghost_hit_depths.size() > ghost_depth_bucket(8));
  CHECK(st.ghost_hit_depths[ghost_depth_bucket(1)] == 1);
  CHECK(st.ghost_hit_depths[ghost_depth_bucket(8)] == 1);
  CHECK(st.ghost_hit_depths[ghost_depth_bucket(6)] == 1);
}

TEST_CASE("a miss on a key evicted for capacity counts as a capacity miss, a cold miss does not") {
  cache_store s{lru(2)};
  for (auto k : {"a", "b", "c"}) // "a" is evicted
    REQUIRE(!s.put(k, "v", timespan{0}, t0));
  CHECK_FALSE(s.get("never", t0));
  CHECK(s.stats().capacity_misses == 0);
  CHECK_FALSE(s.get("a", t0));
  CHECK(s.stats().capacity_misses == 1);
  CHECK_FALSE(s.get("a", t0)); // counted once per eviction
  CHECK(s.stats().capacity_misses == 1);
  CHECK(s.stats().misses == 3);
}

TEST_CASE("an expired entry is never returned, with an injected clock") {
  cache_store s{lru(10)};
  REQUIRE(!s.put("k", "v", 10s, t0));
  CHECK(s.get("k", t0 + 9s));
  CHECK_FALSE(s.get("k", t0 + 10s));
  auto st = s.stats();
  CHECK(st.expirations == 1);
  CHECK(st.hits == 1);
  CHECK(st.misses == 1);
  CHECK(st.entries == 0);
  CHECK(st.bytes == 0);
}

TEST_CASE("the owner applies concurrent reads in the order they happened, and an entry read "
          "twice after it expired leaves once") {
  cache_store s{lru(10)};
  auto now = cache_detail::clock::now();
  // Keys spread over several segments, so that grouping the reads by
  // segment (as the owner does) would change their order if it leaked.
  std::vector<std::string> keys;
  for (int k = 0; k < 6; ++k)
    keys.push_back("key-" + std::to_string(k));
  for (auto& k : keys)
    REQUIRE(s.write(k, key_hash(k), "v", timespan{0}, now));
  // Written an hour ago with a TTL of one second: already expired.
  REQUIRE(s.write("stale", key_hash("stale"), "v", 1s, now - 1h));
  s.drain();
  std::string out;
  bool drain = false;
  for (auto* k : {"key-4", "stale", "key-1", "key-5", "stale", "key-0"})
    s.lookup(k, key_hash(k), out, drain);
  s.drain();
  CHECK(s.coldest_first() ==
        std::vector<std::string>{"key-2", "key-3", "key-4", "key-1", "key-5", "key-0"});
  auto st = s.stats();
  CHECK(st.expirations == 1);
  CHECK(st.hits == 4);
  CHECK(st.misses == 2);
  CHECK(st.entries == 6);
}

TEST_CASE("a concurrent read returns an entry until its TTL ends and never after, also for TTLs "
          "shorter than the tick clock's lag") {
  cache_store s{lru(10)};
  for (auto ttl : {timespan{std::chrono::milliseconds{30}}, timespan{std::chrono::milliseconds{400}}}) {
    auto written = cache_detail::clock::now();
    auto expires = written + ttl;
    REQUIRE(s.write("k", key_hash("k"), "v", ttl, written));
    std::string out;
    bool drain = false;
    // Read-your-writes at once, then hits until the end and misses after.
    size_t hits = 0;
    auto deadline = written + 5s;
    for (;;) {
      auto before = cache_detail::clock::now();
      auto found = s.lookup("k", key_hash("k"), out, drain);
      auto after = cache_detail::clock::now();
      if (found == lookup_result::hit) {
        ++hits;
        REQUIRE(before < expires);
      } else {
        CHECK(after >= expires);
        break;
      }
      REQUIRE(after < deadline);
      s.drain();
    }
    CHECK(hits > 0);
  }
}

TEST_CASE("the default TTL applies unless a put names its own") {
  auto cfg = lru(10);
  cfg.ttl = 5s;
  cache_store s{cfg};
  REQUIRE(!s.put("default", "v", timespan{0}, t0));
  REQUIRE(!s.put("long", "v", 1h, t0));
  CHECK_FALSE(s.contains("default", t0 + 5s));
  CHECK(s.contains("long", t0 + 5s));
  s.set_ttl(timespan{0}); // no expiry for later puts
  REQUIRE(!s.put("forever", "v", timespan{0}, t0));
  CHECK(s.contains("forever", t0 + 1000h));
}

TEST_CASE("bytes are accounted on put, overwrite and erase") {
  cache_store s{lru(10)};
  auto overhead = entry_overhead();
  REQUIRE(!s.put("k", "short", timespan{0}, t0));
  CHECK(s.bytes() == overhead); // short strings live inside the entry
  std::string big(1000, 'x');
  REQUIRE(!s.put("k", big, timespan{0}, t0));
  CHECK(s.bytes() >= overhead + 1000);
  CHECK(s.bytes() < overhead + 1100);
  REQUIRE(!s.put("k2", "v", timespan{0}, t0));
  CHECK(s.erase("k"));
  CHECK(s.bytes() == overhead);
  CHECK_FALSE(s.erase("k"));
  CHECK(s.clear() == 1);
  CHECK(s.bytes() == 0);
}

TEST_CASE("an entry's key and first value live in its node, and the first value stays counted "
          "once another replaces it") {
  cache_store s{lru(10)};
  auto overhead = entry_overhead();
  REQUIRE(!s.put("k", std::string(1000, 'x'), timespan{0}, t0));
  CHECK(s.bytes() == overhead + 1001);
  // The first value's storage is part of the node's allocation until the
  // node goes: a shorter value does not give it back.
  REQUIRE(!s.put("k", "short", timespan{0}, t0));
  CHECK(s.bytes() == overhead + 1001);
  CHECK(s.get("k", t0) == "short");
  REQUIRE(!s.put("k", std::string(2000, 'y'), timespan{0}, t0));
  CHECK(s.bytes() == overhead + 1001 + 2001);
  CHECK(s.get("k", t0) == std::string(2000, 'y'));
  CHECK(s.erase("k"));
  CHECK(s.bytes() == 0);
  // A new node for the same key starts over.
  REQUIRE(!s.put("k", "v", timespan{0}, t0));
  CHECK(s.bytes() == overhead);
  // A key past 15 bytes lives in the node too, and is counted as a
  // string's heap bytes were.
  std::string long_key(100, 'k');
  REQUIRE(!s.put(long_key, "v", timespan{0}, t0));
  CHECK(s.bytes() == 2 * overhead + 101);
  CHECK(s.get(long_key, t0) == "v");
  CHECK(s.coldest_first() == std::vector<std::string>{"k", long_key});
}

TEST_CASE("a value larger than the byte capacity is refused, the cache intact") {
  cache_store s{lru(10, 4096)};
  REQUIRE(!s.put("keep", "v", timespan{0}, t0));
  auto err = s.put("big", std::string(5000, 'x'), timespan{0}, t0);
  CHECK(is(err, errc::invalid_argument));
  CHECK(s.contains("keep", t0));
  CHECK(s.size() == 1);
}

TEST_CASE("the byte budget evicts the coldest entries") {
  auto per_entry = entry_overhead() + 201; // a 200-byte value on the heap
  cache_store s{lru(100, 3 * per_entry + 10)};
  for (auto k : {"a", "b", "c", "d"})
    REQUIRE(!s.put(k, std::string(200, 'x'), timespan{0}, t0));
  CHECK(s.size() == 3);
  CHECK_FALSE(s.contains("a", t0));
  CHECK(s.bytes() <= 3 * per_entry + 10);
}

TEST_CASE("shrink and resize evict the coldest first") {
  cache_store s{lru(10)};
  for (auto k : {"a", "b", "c", "d"})
    REQUIRE(!s.put(k, "v", timespan{0}, t0));
  REQUIRE(s.get("a", t0)); // a is now the hottest
  auto freed = s.shrink(0.5);
  CHECK(freed.entries == 2);
  CHECK(freed.bytes == 2 * entry_overhead());
  CHECK(s.coldest_first() == std::vector<std::string>{"d", "a"});
  REQUIRE(!s.resize(1, 1 << 20));
  CHECK(s.coldest_first() == std::vector<std::string>{"a"});
  CHECK(is(s.resize(0, 1), errc::invalid_argument));
}

TEST_CASE("lru gives exactly the hit count of a reference LRU on the same sequence") {
  auto trace = zipf(50'000, 5'000, 0.8, 1);
  for (size_t capacity : {10, 100, 1000}) {
    cache_store s{lru(capacity)};
    CHECK(replay(s, trace) == reference_lru_hits(capacity, trace));
  }
}

TEST_CASE("tinylfu keeps a frequently used key through a scan that flushes lru") {
  for (auto policy : {eviction::lru, eviction::tinylfu}) {
    auto cfg = lru(100);
    cfg.policy = policy;
    cache_store s{cfg};
    for (int round = 0; round < 20; ++round) {
      if (!s.get("hot", t0))
        REQUIRE(!s.put("hot", "v", timespan{0}, t0));
    }
    for (int i = 0; i < 1000; ++i) { // a one-time scan of cold keys
      auto key = "scan" + std::to_string(i);
      if (!s.get(key, t0))
        REQUIRE(!s.put(key, "v", timespan{0}, t0));
    }
    INFO("policy " << to_string(policy));
    CHECK(s.contains("hot", t0) == (policy == eviction::tinylfu));
  }
}

TEST_CASE("tinylfu never exceeds its capacity and returns what was put") {
  cache_store s{tinylfu(64)};
  std::mt19937 rng{3};
  std::map<std::string, std::string> last;
  for (int i = 0; i < 20'000; ++i) {
    auto key = std::to_string(rng() % 500);
    if (auto v = s.get(key, t0))
      CHECK(*v == last[key]);
    auto value = std::to_string(i);
    REQUIRE(!s.put(key, value, timespan{0}, t0));
    last[key] = value;
    REQUIRE(s.size() <= 64);
  }
}

TEST_CASE("tinylfu beats lru on a skewed stream") {
  auto trace = zipf(200'000, 20'000, 0.9, 7);
  cache_store l{lru(500)};
  cache_store t{tinylfu(500)};
  auto lru_hits = replay(l, trace);
  auto tiny_hits = replay(t, trace);
  INFO("lru " << lru_hits << " tinylfu " << tiny_hits);
  CHECK(tiny_hits > lru_hits);
}

TEST_CASE("tinylfu grows its window on a recency-heavy stream") {
  // A working set that slides forward: recent keys are the ones reused.
  std::vector<uint32_t> trace;
  std::mt19937 rng{5};
  for (uint32_t i = 0; i < 200'000; ++i)
    trace.push_back(i / 4 + rng() % 200);
  cache_store t{tinylfu(400)};
  CHECK(t.window_fraction() < 0.02);
  replay(t, trace);
  CHECK(t.window_fraction() > 0.05);
}

TEST_CASE("frequency sketch counts and halves") {
  frequency_sketch f{64};
  for (int i = 0; i < 5; ++i)
    f.increment(42);
  CHECK(f.frequency(42) == 5);
  CHECK(f.frequency(43) <= 1);
  for (int i = 0; i < 100; ++i)
    f.increment(42);
  CHECK(f.frequency(42) <= 15);
}

// -- the cache actors through the runtime ------------------------------------------

TEST_CASE("the async cache answers get, put, erase, clear and stats") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async");
  REQUIRE(c);
  CHECK(c->get("k").value() == std::nullopt);
  CHECK(!c->put("k", "v"));
  CHECK(c->get("k").value() == std::optional<std::string>{"v"});
  auto many = c->get_many({"k", "missing", "k"});
  REQUIRE(many);
  CHECK(*many == std::vector<std::optional<std::string>>{"v", std::nullopt, "v"});
  CHECK(c->erase("k").value());
  CHECK_FALSE(c->erase("k").value());
  CHECK(!c->put("a", "1"));
  CHECK(c->clear().value() == 1);
  auto st = c->stats();
  REQUIRE(st);
  CHECK(st->hits == 3);
  CHECK(st->misses == 2);
  CHECK(st->puts == 2);
  CHECK(st->max_entries == rt.settings().get<cache_config>().async_maxsize);
}

TEST_CASE("bad input: an unknown cache, an oversized value, a bad shrink") {
  auto cfg = cache_test_config();
  cfg.get<cache_config>().max_bytes = 4096;
  runtime rt{cfg};
  CHECK(is(cache::open(rt, "nope").error(), errc::not_found));
  auto c = cache::open(rt, "async");
  REQUIRE(c);
  CHECK(is(c->put("big", std::string(10'000, 'x')), errc::invalid_argument));
  CHECK(is(c->shrink(0).error(), errc::invalid_argument));
  CHECK(is(cache::create(rt, "x", named_cache_config{0, 1024, {}, eviction_policy::lru, 1}).error(),
           errc::invalid_argument));
  CHECK(is(
      cache::create(rt, "y", named_cache_config{10, 4096, {}, static_cast<eviction_policy>(9), 1})
          .error(),
      errc::invalid_argument));
}

TEST_CASE("shards route every key consistently") {
  runtime rt{cache_test_config()};
  auto c = cache::create(rt, "sharded",
                         named_cache_config{10'000, 64 << 20, {}, eviction_policy::lru, 4});
  REQUIRE(c);
  CHECK(c->shards() == 4);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(!c->put("k" + std::to_string(i), std::to_string(i)));
  for (int i = 0; i < 1000; ++i)
    REQUIRE(c->get("k" + std::to_string(i)).value() == std::to_string(i));
  auto shards = c->shard_stats();
  REQUIRE(shards);
  uint64_t total = 0;
  for (auto& s : *shards) {
    CHECK(s.entries > 100); // spread, not piled on one shard
    total += s.entries;
  }
  CHECK(total == 1000);
  CHECK(c->shard_for("k7").value() == c->shard_for("k7").value());
  CHECK(is(cache::create(rt, "sharded", named_cache_config{}).error(), errc::invalid_argument));
}

TEST_CASE("the cache actor is restarted empty after a crash and says so") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async").value();
  REQUIRE(!c.put("k", "v"));
  auto shard = c.shard_for("k").value();
  caf::anon_send_exit(shard, caf::exit_reason::kill);
  REQUIRE(eventually([&] {
    auto st = c.stats();
    return st && st->restarts == 1;
  }));
  CHECK(c.stats()->entries == 0);
  CHECK(c.get("k").value() == std::nullopt);
  CHECK(!c.put("k", "v2"));
  CHECK(c.get("k").value() == std::optional<std::string>{"v2"});
}

TEST_CASE("[caches.NAME] configures further caches and bad values are refused") {
  auto cfg = load_config_string(R"(
[cache]
policy = "tinylfu"

[caches.sessions]
max_entries = 2000
max_bytes = "8MiB"
ttl = "15m"
shards = 2
)");
  auto all = cfg.get<cache_config>().all();
  REQUIRE(all.count("sessions") == 1);
  CHECK(all["sessions"].policy == eviction_policy::tinylfu);
  CHECK(all["sessions"].shards == 2);
  CHECK(all["sessions"].ttl == 15min);
  CHECK(all["async"].policy == eviction_policy::tinylfu);
  CHECK(all.count("query") == 0); // the db pool owns the query cache
  CHECK(all.count("git") == 0);   // the subprocess pool owns the git cache
  CHECK_THROWS_WITH(load_config_string("[caches.x]\nmax_entries = 0\n"),
                    Catch::Contains("caches.x.max_entries"));
  CHECK_THROWS_WITH(load_config_string("[cache]\npolicy = \"fifo\"\n"),
                    Catch::Contains("cache.policy"));
  auto e = Catch::Contains("caches.async");
  CHECK_THROWS_WITH(load_config_string("[caches.async]\nmax_entries = 5\n"), e);
}

// -- object pool --------------------------------------------------------------

#include "p21/cache_config.hpp"
#include "p21/object_pool.hpp"

TEST_CASE("object_pool reuses objects, stays bounded and trims") {
  object_pool<std::vector<int>> pool{2, [] { return std::make_unique<std::vector<int>>(); },
                                     [](std::vector<int>& v) {
                                       v.clear();
                                     }};
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    auto c = pool.acquire();
    a->push_back(1);
    CHECK(pool.stats().in_use == 3);
    CHECK(pool.stats().allocations == 3);
  }
  auto s = pool.stats();
  CHECK(s.in_use == 0);
  CHECK(s.idle == 2); // bounded: the third was freed
  auto again = pool.acquire();
  CHECK(again->empty()); // reset before reuse
  CHECK(pool.stats().reuses == 1);
  CHECK(pool.trim() == 1);
  CHECK(pool.stats().idle == 0);
  CHECK(pool.stats().trimmed == 1);
}

TEST_CASE("object_pool handles may outlive the pool") {
  object_pool<int>::handle h{nullptr, {}};
  {
    object_pool<int> pool{4};
    h = pool.acquire();
    *h = 7;
  }
  CHECK(*h == 7);
  h.reset(); // returns to the orphaned state without crashing
}

// -- the asynchronous forms, from inside an actor --------------------------------
