#include <catch2/catch.hpp>

#include "actors/tagged_cache/tagged_cache.hpp"
#include "p21/config.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

tagged_cache make_cache(uint64_t entries = 100, timespan ttl = timespan{0}) {
  tagged_cache_config cfg;
  cfg.name = "test";
  cfg.max_entries = entries;
  cfg.ttl = ttl;
  return tagged_cache{cfg};
}

std::shared_ptr<const int> value(int x) {
  return std::make_shared<const int>(x);
}

} // namespace

TEST_CASE("a tagged entry comes back as the object that was stored") {
  auto c = make_cache();
  auto now = steady::now();
  REQUIRE(c.put("k", value(42), {"t"}, c.generation(), now));
  auto hit = c.get<int>("k", now);
  REQUIRE(hit);
  CHECK(*hit == 42);
  CHECK_FALSE(c.get<int>("other", now));
}

TEST_CASE("invalidating a tag drops exactly the entries tagged with it") {
  auto c = make_cache();
  auto now = steady::now();
  REQUIRE(c.put("a", value(1), {"users"}, c.generation(), now));
  REQUIRE(c.put("b", value(2), {"users", "orders"}, c.generation(), now));
  REQUIRE(c.put("c", value(3), {"orders"}, c.generation(), now));
  REQUIRE(c.put("d", value(4), {}, c.generation(), now));
  CHECK(c.invalidate("users") == 2);
  CHECK_FALSE(c.get<int>("a", now));
  CHECK_FALSE(c.get<int>("b", now));
  CHECK(c.get<int>("c", now));
  CHECK(c.get<int>("d", now));
  CHECK(c.invalidate("users") == 0); // nothing left under it
  CHECK(c.invalidate("orders") == 1);
  CHECK_FALSE(c.get<int>("c", now));
  CHECK(c.get<int>("d", now));
}

TEST_CASE("a result computed before an invalidation of its tag is not stored") {
  auto c = make_cache();
  auto now = steady::now();
  auto gen = c.generation(); // the computation starts
  c.invalidate("users");     // a write lands while it runs
  CHECK_FALSE(c.put("a", value(1), {"users"}, gen, now));
  CHECK_FALSE(c.get<int>("a", now));
  // Another tag's invalidation does not make it stale.
  CHECK(c.put("b", value(2), {"orders"}, gen, now));
  // Computed after the invalidation: stored.
  CHECK(c.put("a", value(1), {"users"}, c.generation(), now));
  CHECK(c.get<int>("a", now));
}

TEST_CASE("a result computed before a clear is not stored, whatever its tags") {
  auto c = make_cache();
  auto now = steady::now();
  REQUIRE(c.put("a", value(1), {"x"}, c.generation(), now));
  auto gen = c.generation();
  c.clear();
  CHECK_FALSE(c.get<int>("a", now));
  CHECK_FALSE(c.put("b", value(2), {"y"}, gen, now));
  CHECK_FALSE(c.put("c", value(3), {}, gen, now));
  CHECK(c.put("c", value(3), {}, c.generation(), now));
}

TEST_CASE("entries expire after the store's ttl") {
  auto c = make_cache(100, 1s);
  auto now = steady::now();
  REQUIRE(c.put("a", value(1), {"t"}, c.generation(), now));
  CHECK(c.get<int>("a", now + 500ms));
  CHECK_FALSE(c.get<int>("a", now + 2s));
}

TEST_CASE("the capacity bounds the entries, and values of evicted entries go with them") {
  auto c = make_cache(4);
  auto now = steady::now();
  std::weak_ptr<const int> first;
  {
    auto v = value(0);
    first = v;
    REQUIRE(c.put("k0", std::move(v), {"t"}, c.generation(), now));
  }
  for (int i = 1; i < 100; ++i)
    REQUIRE(c.put("k" + std::to_string(i), value(i), {"t"}, c.generation(), now));
  CHECK(c.size() == 4);
  CHECK_FALSE(c.get<int>("k0", now));
  CHECK(first.expired()); // compacted away, not kept beside the store
  CHECK(c.get<int>("k99", now));
  CHECK(c.resize(2) == 2);
  CHECK(c.size() == 2);
  CHECK(c.capacity() == 2);
}
