// The pool's knob `db_pool.pool_size`: declared in its child_spec, read
// from the pool's own state, set through the same path as
// `set_pool_size_atom`.

#include <catch2/catch.hpp>

#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/protocol/db_pool.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;

TEST_CASE("db_pool.pool_size reads and sets the live pool size, clamped to its bounds") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.path + "/knob.db";
  cfg.get<database_config>().pool_size = 2;
  runtime rt{cfg};
  auto knobs = rt.knobs(); // find_knob points into it
  auto spec = find_knob(knobs, "db_pool.pool_size");
  REQUIRE(spec != nullptr);
  CHECK(spec->min == 1);
  CHECK(spec->max == 10'000);
  // Lazy: not started until its first use.
  if (!rt.component("db_pool")->running)
    CHECK(is(rt.knob("db_pool.pool_size").error(), errc::unavailable));
  REQUIRE(db::open(rt));
  REQUIRE(rt.actor_of("db_pool"));
  CHECK(rt.knob("db_pool.pool_size").value() == 2);
  CHECK(rt.set_knob("db_pool.pool_size", 5).value() == 5);
  auto stats = rt.call<db_pool_stats>("db_pool", stats_atom::value);
  REQUIRE(stats);
  CHECK(stats->configured_size == 5);
  CHECK(rt.knob("db_pool.pool_size").value() == 5);
  CHECK(rt.set_knob("db_pool.pool_size", 0).value() == 1);        // clamped up
  CHECK(rt.set_knob("db_pool.pool_size", 1e9).value() == 10'000); // clamped down
  CHECK(rt.call<db_pool_stats>("db_pool", stats_atom::value)->configured_size == 10'000);
  // The typed message and the knob are one path: each sees the other.
  CHECK(rt.call<uint64_t>("db_pool", set_pool_size_atom::value, uint64_t{3}).value() == 3);
  CHECK(rt.knob("db_pool.pool_size").value() == 3);
  CHECK(!rt.stop());
}
