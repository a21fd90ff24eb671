// A cache's knob `cache.NAME.max_entries`: the store's capacity, read from
// the shard that owns it, set like `resize_atom`.

#include <catch2/catch.hpp>

#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;

TEST_CASE("cache.NAME.max_entries reads and sets the live capacity of the cache") {
  auto cfg = test_config();
  cfg.get<cache_config>().async_maxsize = 100;
  runtime rt{cfg};
  REQUIRE(find_knob(rt.knobs(), "cache.async.max_entries") != nullptr);
  auto c = cache::open(rt, "async");
  REQUIRE(c);
  REQUIRE_FALSE(c->put("k", "v"));
  REQUIRE(rt.actor_of("cache.async/0"));
  CHECK(rt.knob("cache.async.max_entries").value() == 100);
  CHECK(rt.set_knob("cache.async.max_entries", 40.4).value() == 40);
  CHECK(c->stats().value().max_entries == 40);
  CHECK(rt.knob("cache.async.max_entries").value() == 40);
  CHECK(rt.set_knob("cache.async.max_entries", -5).value() == 1);
  CHECK(c->stats().value().max_entries == 1);
  CHECK(!rt.stop());
}
