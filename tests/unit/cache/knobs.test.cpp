// A cache's knob `cache.NAME.max_entries`: the store's capacity, read from
// the shard that owns it, set like `resize_atom`; for a sharded cache, the
// sum of its shards' own knobs, owned by component `cache.NAME`.

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/monitor.hpp"
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

TEST_CASE("a sharded cache's cache.NAME.max_entries is the sum of its shards' and a set "
          "splits the total across them") {
  auto cfg = test_config();
  auto nc = cfg.get<cache_config>().defaults();
  nc.max_entries = 100;
  nc.shards = 4;
  cfg.get<cache_config>().caches["big"] = nc;
  cfg.performance.monitor_interval = std::chrono::seconds{30};
  runtime rt{cfg};
  // One knob for the whole cache, owned by component cache.big, with the
  // whole cache's bounds; the shards keep their own (rule 2 tunes shards).
  auto knobs = rt.knobs(); // find_knob points into it
  auto whole = find_knob(knobs, "cache.big.max_entries");
  REQUIRE(whole != nullptr);
  CHECK(whole->min == 1);
  CHECK(whole->max == 1e9);
  auto owner = rt.component("cache.big");
  REQUIRE(owner);
  CHECK(find_knob(owner->knobs, "cache.big.max_entries") != nullptr);
  for (int k = 0; k < 4; ++k)
    REQUIRE(find_knob(knobs, "cache.big/" + std::to_string(k) + ".max_entries") != nullptr);
  auto shard_knob = [&](int k) {
    return rt.knob("cache.big/" + std::to_string(k) + ".max_entries").value();
  };
  // The shards start on first use; until then the sum cannot be read.
  auto early = rt.knob("cache.big.max_entries");
  if (!early)
    CHECK(is(early.error(), errc::unavailable));
  for (int k = 0; k < 4; ++k)
    REQUIRE(rt.actor_of("cache.big/" + std::to_string(k)));
  CHECK(rt.knob("cache.big.max_entries").value() == 100);
  CHECK(rt.set_knob("cache.big.max_entries", 1000).value() == 1000);
  for (int k = 0; k < 4; ++k)
    CHECK(shard_knob(k) == 250);
  CHECK(rt.knob("cache.big.max_entries").value() == 1000);
  // Split as the configured max_entries is: each shard's share rounded up.
  CHECK(rt.set_knob("cache.big.max_entries", 1001).value() == 1004);
  for (int k = 0; k < 4; ++k)
    CHECK(shard_knob(k) == 251);
  auto c = cache::open(rt, "big");
  REQUIRE(c);
  CHECK(c->stats().value().max_entries == 1004);
  // A shard's own knob moves the sum.
  CHECK(rt.set_knob("cache.big/2.max_entries", 51).value() == 51);
  CHECK(rt.knob("cache.big.max_entries").value() == 804);
  // Clamped to the whole cache's bounds.
  CHECK(rt.set_knob("cache.big.max_entries", 0).value() == 4);
  // A restarted shard gets its share again (its supervisor kept it).
  CHECK(rt.set_knob("cache.big.max_entries", 400).value() == 400);
  caf::anon_send_exit(rt.actor_of("cache.big/1").value(), caf::exit_reason::kill);
  CHECK(eventually([&] {
    auto s = rt.component("cache.big/1");
    return s && s->restarts == 1 && s->running;
  }));
  CHECK(shard_knob(1) == 100);
  CHECK(rt.knob("cache.big.max_entries").value() == 400);
  // p21_knob_value shows it with its component.
  auto mon = monitor::open(rt);
  REQUIRE(mon);
  REQUIRE(mon->sample());
  REQUIRE(mon->sample());
  auto m = mon->metrics();
  REQUIRE(m);
  auto seen = exported_knob_value(*m, "cache.big.max_entries", "cache.big");
  REQUIRE(seen);
  CHECK(*seen == 400);
  CHECK(!rt.stop());
}
