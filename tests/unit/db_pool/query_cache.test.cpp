#include <catch2/catch.hpp>

#include "actors/db_pool/query_cache.hpp"

using namespace p21;
using namespace p21::db_detail;
using namespace std::chrono_literals;

namespace {

db_result rows_of(int64_t x) {
  db_result r;
  r.columns = {"x"};
  r.rows = {{db_value::of(x)}};
  return r;
}

/// Caches `sql` as having read `tables`, computed now.
void cache(query_cache& c, const std::string& sql, const std::vector<std::string>& tables,
           int64_t x = 1) {
  c.put(query_cache::key(sql, {}), rows_of(x), tables, c.seq());
}

bool cached(query_cache& c, const std::string& sql) {
  return c.get(query_cache::key(sql, {})).has_value();
}

} // namespace

TEST_CASE("a cached result comes back marked cached") {
  query_cache c{100, timespan{0}};
  cache(c, "SELECT x FROM t", {"t"}, 7);
  auto hit = c.get(query_cache::key("SELECT x FROM t", {}));
  REQUIRE(hit);
  CHECK(hit->cached);
  CHECK(hit->rows.at(0).at(0).i == 7);
}

TEST_CASE("a write to a table drops exactly the queries that read it") {
  query_cache c{100, timespan{0}};
  cache(c, "SELECT * FROM users", {"users"});
  cache(c, "SELECT * FROM users JOIN orders", {"users", "orders"});
  cache(c, "SELECT * FROM orders", {"orders"});
  cache(c, "SELECT 1", {});
  c.invalidate({"users"});
  CHECK_FALSE(cached(c, "SELECT * FROM users"));
  CHECK_FALSE(cached(c, "SELECT * FROM users JOIN orders"));
  CHECK(cached(c, "SELECT * FROM orders"));
  CHECK(cached(c, "SELECT 1"));
}

TEST_CASE("a result computed before a write to a table it read is not stored") {
  query_cache c{100, timespan{0}};
  auto seq = c.seq();      // the read starts
  c.invalidate({"users"}); // a write is acknowledged while it runs
  c.put(query_cache::key("SELECT * FROM users", {}), rows_of(1), {"users"}, seq);
  c.put(query_cache::key("SELECT * FROM other", {}), rows_of(1), {"other"}, seq);
  CHECK_FALSE(cached(c, "SELECT * FROM users"));
  CHECK(cached(c, "SELECT * FROM other"));
}

TEST_CASE("a write that may touch any table drops every query, and a flush too") {
  query_cache c{100, timespan{0}};
  cache(c, "SELECT * FROM a", {"a"});
  cache(c, "SELECT 1", {});
  c.invalidate({query_cache::any_table});
  CHECK_FALSE(cached(c, "SELECT * FROM a"));
  CHECK_FALSE(cached(c, "SELECT 1"));
  auto seq = c.seq();
  cache(c, "SELECT * FROM a", {"a"});
  c.flush();
  CHECK_FALSE(cached(c, "SELECT * FROM a"));
  c.put(query_cache::key("SELECT 1", {}), rows_of(1), {}, seq); // from before the flush
  CHECK_FALSE(cached(c, "SELECT 1"));
}

TEST_CASE("the key tells apart parameters that print alike") {
  using v = std::vector<db_value>;
  auto k = [](const v& params) {
    return query_cache::key("SELECT ?", params);
  };
  CHECK(k({db_value::of(int64_t{1})}) != k({db_value::of("1")}));
  CHECK(k({db_value::of("ab"), db_value::of("c")}) != k({db_value::of("a"), db_value::of("bc")}));
  CHECK(k({}) != k({db_value{}}));
  CHECK(query_cache::key("SELECT ?", {}) != query_cache::key("SELECT ? ", {}));
  CHECK(k({db_value::of("x")}) == k({db_value::of("x")}));
}

TEST_CASE("hits are counted, and misses only when the caller runs the read") {
  query_cache c{100, timespan{0}};
  cache(c, "SELECT 1", {});
  CHECK(c.get(query_cache::key("SELECT 1", {})));
  CHECK_FALSE(c.get(query_cache::key("SELECT 2", {}), false));
  CHECK_FALSE(c.get(query_cache::key("SELECT 2", {})));
  CHECK(c.counts() == std::make_pair(uint64_t{1}, uint64_t{1}));
}

TEST_CASE("the query cache holds at most its entries") {
  query_cache c{3, timespan{0}};
  for (int i = 0; i < 10; ++i)
    cache(c, "SELECT " + std::to_string(i), {"t"});
  CHECK_FALSE(cached(c, "SELECT 0"));
  CHECK(cached(c, "SELECT 9"));
}

namespace {

/// A result of one blob of `n` bytes.
db_result blob_of(size_t n) {
  db_result r;
  r.columns = {"b"};
  r.rows = {{db_value::of_blob(std::string(n, 'x'))}};
  return r;
}

} // namespace

TEST_CASE("the query cache holds at most query_cache_max_bytes, the coldest results leaving "
          "first") {
  // Ten results of 30 KiB in a 256 KiB budget (and room for 1000 entries).
  query_cache c{1000, timespan{0}, 256 << 10};
  for (int i = 0; i < 10; ++i) {
    c.put(query_cache::key("SELECT " + std::to_string(i), {}), blob_of(30 << 10), {"t"}, c.seq());
    CHECK(c.bytes() <= c.max_bytes());
  }
  CHECK(c.bytes() > 128u << 10); // the budget is used, not emptied
  CHECK(cached(c, "SELECT 9"));
  CHECK_FALSE(cached(c, "SELECT 0"));
  // Invalidation gives the bytes back.
  c.invalidate({"t"});
  CHECK(c.bytes() == 0);
}

TEST_CASE("a result larger than an eighth of query_cache_max_bytes is never cached") {
  query_cache c{1000, timespan{0}, 1 << 20};
  REQUIRE(c.max_entry_bytes() == (1u << 20) / 8);
  c.put(query_cache::key("SELECT big", {}), blob_of(200 << 10), {"t"}, c.seq());
  CHECK_FALSE(cached(c, "SELECT big"));
  CHECK(c.bytes() == 0);
  c.put(query_cache::key("SELECT small", {}), blob_of(100 << 10), {"t"}, c.seq());
  CHECK(cached(c, "SELECT small"));
}
