// The cache's lock-free read side: the zero-copy `visit`, and readers that
// take no lock racing writers, the owner's drains, resizes, clears and
// resets (a restarted shard), the store alone and through the handle with
// shards killed meanwhile. Runs under ASan + UBSan in the asan preset; the
// table alone runs under TSan (tests/table/).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>
#include <random>
#include <thread>

#include <caf/all.hpp>

#include "actors/cache/cache_store.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

/// A value for `key` whose every byte after the key says which write made
/// it: a torn read (half of one write, half of another) shows.
std::string stamped(const std::string& key, uint64_t version, size_t size) {
  std::string v = key + "=";
  v.append(size, static_cast<char>('a' + version % 26));
  return v;
}

bool intact(const std::string& key, std::string_view v) {
  if (v.size() <= key.size() + 1 || v.compare(0, key.size(), key) != 0 || v[key.size()] != '=')
    return false;
  auto fill = v[key.size() + 1];
  for (auto c : v.substr(key.size() + 1))
    if (c != fill)
      return false;
  return true;
}

} // namespace

TEST_CASE("visit hands out the stored bytes without copying them, and a put stores new ones") {
  runtime rt{test_config()};
  auto c = cache::open(rt, "async").value();
  REQUIRE(!c.put("k", std::string(100, 'x')));
  const char* first = nullptr;
  std::string seen;
  REQUIRE(c.visit("k", [&](std::string_view v) {
             first = v.data();
             seen.assign(v);
           }).value());
  CHECK(seen == std::string(100, 'x'));
  // The same bytes again: no copy was made for the first visit.
  const char* second = nullptr;
  REQUIRE(c.visit("k", [&](std::string_view v) { second = v.data(); }).value());
  CHECK(second == first);
  REQUIRE(!c.put("k", std::string(100, 'y')));
  REQUIRE(c.visit("k", [&](std::string_view v) { seen.assign(v); }).value());
  CHECK(seen == std::string(100, 'y'));
  bool called = false;
  CHECK_FALSE(c.visit("absent", [&](std::string_view) { called = true; }).value());
  CHECK_FALSE(called);
  REQUIRE(c.erase("k").value());
  CHECK_FALSE(c.visit("k", [&](std::string_view) { called = true; }).value());
  CHECK_FALSE(called);
  // Visits count as reads in the stats, like gets.
  auto st = c.stats().value();
  CHECK(st.hits >= 3);
  CHECK(st.misses >= 2);
}

TEST_CASE("lock-free readers race writers, drains, resizes, clears and resets of a store: no "
          "torn value, no value of another key, and each writer reads its own writes") {
  store_config cfg;
  cfg.max_entries = 2000;
  cfg.max_bytes = 1ull << 30;
  cfg.policy = eviction::tinylfu;
  cache_store store{cfg};
  std::atomic<bool> stop{false};
  std::atomic<bool> quiet{false}; // owner only drains: nothing removes keys
  std::atomic<uint64_t> torn{0}, lost{0}, reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      std::mt19937_64 rng{static_cast<uint64_t>(r) + 11};
      uint64_t n = 0;
      while (!stop.load()) {
        auto key = "k" + std::to_string(rng() % 5000);
        bool drain = false;
        if (r == 0) {
          std::string out;
          if (store.lookup(key, key_hash(key), out, drain) == lookup_result::hit &&
              !intact(key, out))
            ++torn;
        } else {
          store.visit(
              key, key_hash(key),
              [&](std::string_view v) {
                if (!intact(key, v))
                  ++torn;
              },
              drain);
        }
        ++n;
      }
      reads += n;
    });
  for (int w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      std::mt19937_64 rng{static_cast<uint64_t>(w) + 21};
      for (uint64_t i = 0; !stop.load(); ++i) {
        // Read before the write: once quiet, nothing removes what follows.
        bool was_quiet = quiet.load();
        auto key = "k" + std::to_string(rng() % 5000);
        if (rng() % 8 == 0) {
          cache_store::queued q;
          store.remove(key, key_hash(key), q);
          continue;
        }
        auto v = stamped(key, i, 8 + rng() % 300);
        if (!store.write(key, key_hash(key), v, timespan{0}, cache_detail::clock::now()))
          ++lost;
        // A key only this writer writes, read at once: once quiet (no
        // clear, reset or eviction), it must be this very write.
        auto mine = "w" + std::to_string(w) + "-" + std::to_string(i % 100);
        if (!store.write(mine, key_hash(mine), stamped(mine, i, 50), timespan{0},
                         cache_detail::clock::now()))
          ++lost;
        bool drain = false;
        std::string out;
        auto found = store.lookup(mine, key_hash(mine), out, drain) == lookup_result::hit;
        if (was_quiet && (!found || out != stamped(mine, i, 50)))
          ++lost;
        if (found && !intact(mine, out))
          ++torn;
        // A full write queue waits for the owner, as the handle does.
        while (store.pending_writes() > 4 * store.write_limit() && !stop.load())
          std::this_thread::yield();
      }
    });
  // The owner: drains all the time; resizes, shrinks, clears and resets
  // (a restarted shard) now and then, then a quiet phase with room for
  // every key in which nothing may go missing.
  std::mt19937_64 rng{5};
  for (int round = 0; round < 1000; ++round) {
    store.drain();
    switch (rng() % 8) {
    case 0:
      REQUIRE(!store.resize(500 + rng() % 3000, 1ull << 30));
      break;
    case 1:
      store.shrink(0.2);
      break;
    case 2:
      store.clear();
      break;
    case 3:
      store.reset();
      break;
    default:
      break;
    }
    std::this_thread::yield();
  }
  REQUIRE(!store.resize(100'000, 1ull << 30));
  store.drain();
  quiet = true;
  for (int round = 0; round < 500; ++round) {
    store.drain();
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : threads)
    t.join();
  store.drain();
  CHECK(reads > 0);
  CHECK(torn == 0);
  CHECK(lost == 0);
  CHECK(store.size() <= 100'000);
}

TEST_CASE("visits and gets from 4 threads while writers put and the shards are killed and "
          "restarted: every value seen belongs to its key, none torn") {
  runtime rt{test_config()};
  named_cache_config nc;
  nc.max_entries = 1000;
  nc.max_bytes = 1ull << 30;
  nc.shards = 2;
  auto c = cache::create(rt, "restarts", nc).value();
  // Each shard killed once (more within seconds exceeds the supervisor's
  // restart intensity, and it gives the shard up).
  std::vector<cache_actor> shards;
  for (int i = 0; shards.size() < nc.shards && i < 1000; ++i) {
    auto shard = c.shard_for("k" + std::to_string(i)).value();
    if (std::find(shards.begin(), shards.end(), shard) == shards.end())
      shards.push_back(shard);
  }
  REQUIRE(shards.size() == nc.shards);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng{static_cast<uint64_t>(t)};
      for (uint64_t i = 0; !stop.load(); ++i) {
        auto key = "k" + std::to_string(rng() % 2000);
        if (t == 0 || rng() % 10 == 0) {
          static_cast<void>(c.put(key, stamped(key, i, 20 + rng() % 200)));
        } else if (t % 2 == 0) {
          if (auto v = c.get(key); v && *v) {
            ++hits;
            torn += intact(key, **v) ? 0 : 1;
          }
        } else {
          auto r = c.visit(key, [&](std::string_view v) { torn += intact(key, v) ? 0 : 1; });
          hits += r && *r ? 1 : 0;
        }
      }
    });
  // Readers hit before each kill and again after each restart: the whole
  // run takes tens of milliseconds, and on a loaded machine the threads
  // could otherwise be scheduled only once the kills were over.
  auto more_hits = [&] {
    auto seen = hits.load();
    return eventually([&] { return hits.load() >= seen + 100; });
  };
  CHECK(more_hits());
  uint64_t restarts = 0;
  for (auto& shard : shards) {
    caf::anon_send_exit(shard, caf::exit_reason::kill);
    ++restarts;
    bool restarted = eventually([&] {
      auto st = c.stats();
      return st && st->restarts >= restarts;
    });
    CHECK(restarted);
    if (!restarted)
      break;
    CHECK(more_hits());
  }
  stop = true;
  for (auto& t : threads)
    t.join();
  CHECK(torn == 0);
  CHECK(hits > 0);
}

namespace {

/// What ran on liburcu's thread, in order.
struct deferred_log {
  std::mutex mtx;
  std::vector<std::string> order;
  void note(const std::string& what) {
    std::lock_guard<std::mutex> guard{mtx};
    order.push_back(what);
  }
};

} // namespace

TEST_CASE("a call queued after deferred frees runs once they are freed (a shrink's trim and "
          "reply wait for its evicted values)") {
  deferred_log log;
  auto* batch = retired_batch::make();
  for (int i = 0; i < 3; ++i)
    batch->add(&log, [](void* p) { static_cast<deferred_log*>(p)->note("freed"); });
  {
    // A reader holds the table: nothing is freed before its section ends.
    read_guard reader;
    free_after_grace_period(batch);
    after_deferred_frees([&log] { log.note("after"); });
    std::this_thread::sleep_for(20ms);
    std::lock_guard<std::mutex> guard{log.mtx};
    CHECK(log.order.empty());
  }
  wait_for_deferred_frees(); // a barrier: every queued call has run
  std::lock_guard<std::mutex> guard{log.mtx};
  CHECK(log.order == std::vector<std::string>{"freed", "freed", "freed", "after"});
}

namespace {

/// A key of `n` letters, the i-th 'a' + (i * step) % 26.
std::string key_of_length(size_t n, size_t step) {
  std::string k(n, 'k');
  for (size_t i = 0; i < n; ++i)
    k[i] = static_cast<char>('a' + (i * step) % 26);
  return k;
}

} // namespace

TEST_CASE("the cache table's key compare tells apart keys of every length up to 40 bytes that "
          "differ in any one byte") {
  for (size_t n = 0; n <= 40; ++n) {
    auto a = key_of_length(n, 7);
    REQUIRE(same_key(a, std::string{a}));
    REQUIRE_FALSE(same_key(a, a + "x"));
    if (n > 0)
      REQUIRE_FALSE(same_key(a, std::string_view{a}.substr(0, n - 1)));
    for (size_t i = 0; i < n; ++i) {
      auto b = a;
      b[i] = static_cast<char>(b[i] ^ 0x01);
      REQUIRE_FALSE(same_key(a, b));
    }
  }
}

TEST_CASE("a key's hash is XXH3's, seeded, for every length (the short keys' inlined path "
          "included)") {
  // Hit rates, shards and a replay's results depend on the hash: the
  // inlined path for keys of up to 16 bytes must give what the library's
  // dispatcher gives.
  for (size_t n = 0; n <= 40; ++n) {
    auto k = key_of_length(n, 11);
    CHECK(key_hash(k) == XXH3_64bits_withSeed(k.data(), k.size(), key_hash_seed));
  }
  // Distinct short keys spread over every segment of the table.
  std::vector<bool> seen(rcu_table::segment_count);
  for (int i = 0; i < 4096; ++i)
    seen[rcu_table::segment_index(key_hash("key-" + std::to_string(i)))] = true;
  CHECK(std::count(seen.begin(), seen.end(), true) == static_cast<long>(seen.size()));
}

TEST_CASE("a cache's table starts each segment with buckets for its capacity, so that filling "
          "it rehashes nothing, and a cleared one starts there again") {
  auto fill = [](cache_store& s, size_t n) {
    auto now = clock::now();
    for (size_t i = 0; i < n; ++i) {
      auto k = "key-" + std::to_string(i);
      REQUIRE(s.write(k, key_hash(k), "v", timespan{0}, now));
    }
  };
  store_config sized;
  sized.max_entries = 8192; // 128 buckets a segment, 64 entries a segment on average
  cache_store presized{sized};
  fill(presized, 4096);
  CHECK(presized.table_rehashes() == 0);
  presized.clear();
  fill(presized, 4096);
  CHECK(presized.table_rehashes() == 0);

  // The same fill in a table sized for 16 entries a segment: the check
  // above can fail.
  store_config small;
  small.max_entries = 512;
  cache_store grown{small};
  fill(grown, 4096);
  CHECK(grown.table_rehashes() > 0);
}
