// The cache's write queue is bounded in bytes as well as in entries: a
// write stores its value in the table at once, and the owner counts it
// against the byte capacity only when it drains, so the queue's bytes are
// memory the capacity does not see.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "actors/cache/cache_store.hpp"
#include "actors/cache/shard.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace p21::test;

TEST_CASE("a cache's write queue is full once its writes hold more bytes than a sixty-fourth of "
          "the byte capacity, however few entries they are") {
  store_config cfg;
  cfg.max_entries = 1'000'000;
  cfg.max_bytes = 64ull << 20;
  cache_store store{cfg};
  REQUIRE(store.write_byte_limit() == (64ull << 20) / 64);
  REQUIRE(store.write_limit() == 4096);
  std::string value(256 << 10, 'x');
  auto now = std::chrono::steady_clock::now();
  auto put = [&](int i) {
    auto key = "k" + std::to_string(i);
    return store.write(key, key_hash(key), value, timespan{0}, now).value();
  };
  // Three values stay under the limit, the fourth takes the queue past it.
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(put(i).full);
  auto q = put(3);
  CHECK(q.full);
  CHECK(q.pending == 4);
  CHECK(q.pending_bytes > store.write_byte_limit());
  CHECK(store.pending_write_bytes() == q.pending_bytes);
  // The owner's drain accounts them: the queue is empty again.
  store.drain();
  CHECK(store.pending_write_bytes() == 0);
  CHECK(store.bytes() >= 4 * value.size());
  CHECK_FALSE(put(4).full);
  CHECK(store.peak_pending_write_bytes() == q.pending_bytes);
}

TEST_CASE("16 cache writers of 256 KiB values into a 4 MiB cache keep its queued bytes within a "
          "sixty-fourth of the budget plus one value per writer") {
  runtime rt{test_config()};
  named_cache_config nc;
  nc.max_entries = 100'000;
  nc.max_bytes = 4ull << 20;
  auto c = cache::create(rt, "large_values", nc).value();
  auto shard = rt.shared_object<shard_shared>("cache.large_values/0");
  REQUIRE(shard);
  constexpr int writers = 16;
  constexpr int puts = 48;
  const std::string value(256 << 10, 'v');
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < puts; ++i)
        if (c.put("w" + std::to_string(t) + "-" + std::to_string(i), value))
          ++failed;
    });
  for (auto& t : threads)
    t.join();
  CHECK(failed == 0);
  // A writer that takes the queue past the limit waits for the drain that
  // empties it: past the limit, each writer adds at most its one value.
  auto per_write = entry_overhead() + value.size() + 1024;
  auto peak = shard->store.peak_pending_write_bytes();
  CHECK(peak > 0);
  CHECK(peak <= shard->store.write_byte_limit() + writers * per_write);
  auto stats = c.stats().value();
  CHECK(stats.bytes <= nc.max_bytes);
}

TEST_CASE("while a cache's owner keeps draining, a write asks for a drain only once a quarter of "
          "the queue's limit waits, and the owner stops only when no write waits") {
  store_config cfg;
  cfg.max_entries = 64 * 64;
  cache_store store{cfg};
  REQUIRE(store.write_limit() == 64);
  auto put = [&](int i) {
    auto key = "k" + std::to_string(i);
    return store.write(key, key_hash(key), "v", timespan{0}).value();
  };
  CHECK(put(0).drain); // an idle owner is asked at once
  CHECK(store.drain() == 1);
  store.keep_draining();
  for (int i = 1; i < 16; ++i)
    CHECK_FALSE(put(i).drain); // the owner's next tick takes them
  CHECK(put(16).drain); // a quarter of 64 waits
  CHECK_FALSE(store.stop_draining_if_idle()); // writes wait: it ticks on
  CHECK(store.drain() == 16);
  CHECK(store.size() == 17);
  CHECK(store.stop_draining_if_idle());
  CHECK(put(17).drain); // stopped: the next write asks again
}

TEST_CASE("while a cache's owner keeps draining, a reader claims no drain request, even once its "
          "stripe is full, and hears once per three quarters of a stripe to note its use") {
  cache_store store{store_config{}};
  const std::string key = "hot";
  auto hash = key_hash(key);
  REQUIRE_FALSE(store.put(key, "v", timespan{0}, std::chrono::steady_clock::now()));
  auto read = [&](size_t n) {
    size_t asked = 0;
    for (size_t i = 0; i < n; ++i) {
      bool drain = false;
      CHECK(store.visit(key, hash, [](std::string_view) {}, drain) == lookup_result::hit);
      asked += drain ? 1 : 0;
    }
    return asked;
  };
  store.keep_draining();
  CHECK(read(read_buffer::slots + 100) == 1); // the note of use
  CHECK_FALSE(store.drain_pending());         // nothing claimed: no message
  CHECK(store.drain() == read_buffer::slots); // the rest were dropped
  CHECK(store.stop_draining_if_idle());
  CHECK(read(read_buffer::slots) == 1); // not ticking: asked once, at three quarters
  CHECK(store.drain_pending());
}

TEST_CASE("hits served from the table while a cache's owner ticks still count as uses of its "
          "shard") {
  runtime rt{test_config()};
  auto c = cache::create(rt, "ticking_uses", named_cache_config{}).value();
  REQUIRE_FALSE(c.put("hot", "v"));
  auto shard = rt.shared_object<shard_shared>("cache.ticking_uses/0");
  REQUIRE(shard);
  auto uses = [&] { return rt.component("cache.ticking_uses/0").value().use_count; };
  // Writes and reads until the owner ticks: drain requests less than a
  // tick apart start it. Writes ask at once; reads alone ask once per
  // 1 536, which under ASan can be slower than a tick.
  for (int i = 0; i < 100'000 && !shard->store.ticking(); ++i) {
    REQUIRE_FALSE(c.put("k" + std::to_string(i % 64), "v"));
    REQUIRE(c.get("hot").value());
  }
  REQUIRE(shard->store.ticking());
  auto before = uses();
  // Three quarters of a stripe and more: one note of use at least, with no
  // drain request (the owner drains on its tick).
  for (size_t i = 0; i < 2 * read_buffer::slots; ++i)
    REQUIRE(c.get("hot").value());
  CHECK(eventually([&] { return uses() > before; }));
}
