// A knob's run-time value survives its owner's restart, and a reload of the
// key behind it wins: the built-in components, restarted by the node's
// supervisor after a crash (issue 32, point 6: "reload then restart keeps
// it"; the optimizer's 4 -> 8 must not be lost to a pool crash either).

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "p21/cache_config.hpp"
#include "p21/db_config.hpp"
#include "p21/faults.hpp"
#include "p21/p21.hpp"
#include "support/test_support.hpp"
#include "support/wait.hpp"

namespace {

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// Waits until component `name` was restarted `n` times and runs again.
bool restarted(p21::runtime& rt, const std::string& name, uint64_t n) {
  return p21::test::eventually([&] {
    auto c = rt.component(name);
    return c && c->restarts >= n && c->running;
  });
}

} // namespace

TEST_CASE("a db pool restarted after a crash keeps the pool_size set at run time, until a "
          "reload changes it") {
  p21::test::temp_dir dir{"knob-restart-db"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("a.db");
  cfg.get<p21::database_config>().pool_size = 4;
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  REQUIRE(db.query("SELECT 1"));
  // What the optimizer does: 4 -> 8 through the supervisor.
  REQUIRE(rt.set_knob("db_pool.pool_size", 8).value() == 8);
  REQUIRE_FALSE(p21::crash_db_writer(rt));
  REQUIRE(restarted(rt, "db_pool", 1));
  CHECK(rt.knob("db_pool.pool_size").value() == 8);
  CHECK(db.stats().value().configured_size == 8);
  // A reload of the key behind it: the reloaded value is the truth, now
  // and after the next restart.
  auto next = cfg;
  next.get<p21::database_config>().pool_size = 6;
  REQUIRE(has(rt.reload(next).applied, "database.pool_size"));
  CHECK(rt.knob("db_pool.pool_size").value() == 6);
  REQUIRE_FALSE(p21::crash_db_writer(rt));
  REQUIRE(restarted(rt, "db_pool", 2));
  CHECK(rt.knob("db_pool.pool_size").value() == 6);
  CHECK(db.stats().value().configured_size == 6);
  // A reload of another key does not drop a value set after it.
  REQUIRE(rt.set_knob("db_pool.pool_size", 3).value() == 3);
  auto later = next;
  later.get<p21::database_config>().pool_timeout = std::chrono::milliseconds{700};
  REQUIRE(has(rt.reload(later).applied, "database.pool_timeout"));
  REQUIRE_FALSE(p21::crash_db_writer(rt));
  REQUIRE(restarted(rt, "db_pool", 3));
  CHECK(rt.knob("db_pool.pool_size").value() == 3);
}

TEST_CASE("a cache shard restarted after a crash keeps the capacity set at run time, until a "
          "reload changes it") {
  auto cfg = p21::test::test_config();
  auto nc = cfg.get<p21::cache_config>().defaults();
  nc.max_entries = 100;
  cfg.get<p21::cache_config>().caches["r"] = nc;
  p21::runtime rt{cfg};
  auto r = p21::cache::open(rt, "r").value();
  REQUIRE_FALSE(r.put("k", "v"));
  REQUIRE(rt.set_knob("cache.r.max_entries", 40).value() == 40);
  caf::anon_send_exit(rt.actor_of("cache.r/0").value(), caf::exit_reason::kill);
  REQUIRE(restarted(rt, "cache.r/0", 1));
  CHECK(rt.knob("cache.r.max_entries").value() == 40);
  CHECK(r.stats().value().max_entries == 40);
  auto next = cfg;
  next.get<p21::cache_config>().caches["r"].max_entries = 70;
  REQUIRE(has(rt.reload(next).applied, "caches.r.max_entries"));
  CHECK(rt.knob("cache.r.max_entries").value() == 70);
  caf::anon_send_exit(rt.actor_of("cache.r/0").value(), caf::exit_reason::kill);
  REQUIRE(restarted(rt, "cache.r/0", 2));
  CHECK(rt.knob("cache.r.max_entries").value() == 70);
  CHECK(r.stats().value().max_entries == 70);
}
