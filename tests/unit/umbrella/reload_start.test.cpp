// A reload stays true for components that start after it: a lazy one first
// used after a reload, and one the supervisor restarts, run with the
// reloaded values, not the node's start-up ones; and a reload of a key whose
// component is not running is reported applied, not "restart needed".

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "p21/cache_config.hpp"
#include "p21/db_config.hpp"
#include "p21/faults.hpp"
#include "p21/p21.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"
#include "support/wait.hpp"

namespace {

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// A config with cache "r" (lazy: it starts on first use).
p21::config with_cache_r(uint64_t max_entries) {
  auto cfg = p21::test::test_config();
  auto nc = cfg.get<p21::cache_config>().defaults();
  nc.max_entries = max_entries;
  cfg.get<p21::cache_config>().caches["r"] = nc;
  return cfg;
}

/// Waits until component `name` was restarted `n` times and runs again.
bool restarted(p21::runtime& rt, const std::string& name, uint64_t n) {
  return p21::test::eventually([&] {
    auto c = rt.component(name);
    return c && c->restarts >= n && c->running;
  });
}

} // namespace

TEST_CASE("a reload reaches a cache not used yet: reported applied, it starts with the new "
          "capacity") {
  auto cfg = with_cache_r(100);
  p21::runtime rt{cfg};
  REQUIRE_FALSE(rt.component("cache.r/0")->running);
  auto next = cfg;
  next.get<p21::cache_config>().caches["r"].max_entries = 40;
  next.get<p21::cache_config>().caches["r"].ttl = std::chrono::seconds{9};
  auto report = rt.reload(next);
  CHECK(has(report.applied, "caches.r.max_entries"));
  CHECK(has(report.applied, "caches.r.ttl"));
  CHECK(report.restart_needed.empty());
  CHECK(report.failed.empty());
  CHECK(rt.settings().get<p21::cache_config>().caches.at("r").max_entries == 40);
  // First use after the reload: the shard starts from the current config.
  auto r = p21::cache::open(rt, "r").value();
  REQUIRE_FALSE(r.put("k", "v"));
  auto stats = r.stats().value();
  CHECK(stats.max_entries == 40);
  CHECK(rt.component("cache.r/0")->running);
}

TEST_CASE("a reload of a lazy pool that has not started is applied, and it starts with it") {
  auto cfg = p21::test::test_config();
  p21::runtime rt{cfg};
  REQUIRE_FALSE(rt.component("subprocess")->running);
  auto next = cfg;
  next.get<p21::subprocess_config>().max_processes = 3;
  next.get<p21::subprocess_config>().output_cap = 4;
  auto report = rt.reload(next);
  CHECK(has(report.applied, "subprocess.max_processes"));
  CHECK(has(report.applied, "subprocess.output_cap"));
  CHECK(report.restart_needed.empty());
  CHECK(rt.settings().get<p21::subprocess_config>().max_processes == 3);
  auto pool = p21::subprocess::open(rt).value();
  auto out = pool.run({"echo", "123456789"});
  REQUIRE(out);
  CHECK(out->stdout_data == "1234");
  CHECK(pool.stats().value().max_processes == 3);
}

TEST_CASE("a db pool the supervisor restarts after a reload keeps the reloaded pool_size") {
  p21::test::temp_dir dir{"reload-restart-db"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("a.db");
  cfg.get<p21::database_config>().pool_size = 2;
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  REQUIRE(db.query("SELECT 1"));
  auto next = cfg;
  next.get<p21::database_config>().pool_size = 5;
  auto report = rt.reload(next);
  REQUIRE(has(report.applied, "database.pool_size"));
  REQUIRE(db.stats().value().configured_size == 5);
  REQUIRE_FALSE(p21::crash_db_writer(rt));
  REQUIRE(restarted(rt, "db_pool", 1));
  CHECK(p21::test::eventually([&] {
    auto s = db.stats();
    return s && s->configured_size == 5;
  }));
  CHECK(db.stats().value().configured_size == 5);
}

TEST_CASE("a subprocess pool the supervisor restarts after a reload keeps the reloaded limits") {
  auto cfg = p21::test::test_config();
  p21::runtime rt{cfg};
  auto pool = p21::subprocess::open(rt).value();
  REQUIRE(pool.run({"true"}));
  auto next = cfg;
  next.get<p21::subprocess_config>().max_processes = 3;
  next.get<p21::subprocess_config>().output_cap = 4;
  REQUIRE(has(rt.reload(next).applied, "subprocess.max_processes"));
  caf::anon_send_exit(rt.actor_of("subprocess").value(), caf::exit_reason::kill);
  REQUIRE(restarted(rt, "subprocess", 1));
  CHECK(pool.stats().value().max_processes == 3);
  auto out = pool.run({"echo", "123456789"});
  REQUIRE(out);
  CHECK(out->stdout_data == "1234");
}

TEST_CASE("a cache shard the supervisor restarts after a reload keeps the reloaded capacity") {
  auto cfg = with_cache_r(100);
  cfg.components["cache.r/0"].prio = p21::priority::critical;
  p21::runtime rt{cfg};
  auto r = p21::cache::open(rt, "r").value();
  REQUIRE(r.stats().value().max_entries == 100);
  auto next = cfg;
  next.get<p21::cache_config>().caches["r"].max_entries = 40;
  REQUIRE(has(rt.reload(next).applied, "caches.r.max_entries"));
  REQUIRE(r.stats().value().max_entries == 40);
  caf::anon_send_exit(rt.actor_of("cache.r/0").value(), caf::exit_reason::kill);
  REQUIRE(restarted(rt, "cache.r/0", 1));
  CHECK(r.stats().value().max_entries == 40);
}

TEST_CASE("a key that needs a restart keeps its start-up value across a component's restart") {
  p21::test::temp_dir dir{"reload-restart-path"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("a.db");
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  REQUIRE(db.execute("CREATE TABLE t(x)"));
  auto next = cfg;
  next.get<p21::database_config>().path = dir.file("b.db");
  auto report = rt.reload(next);
  CHECK(report.restart_needed == std::vector<std::string>{"database.path"});
  REQUIRE_FALSE(p21::crash_db_writer(rt));
  REQUIRE(restarted(rt, "db_pool", 1));
  // Still the first file: its table is there.
  CHECK(p21::test::eventually([&] { return static_cast<bool>(db.execute("INSERT INTO t VALUES (1)")); }));
  CHECK(rt.current_settings()->get<p21::database_config>().path == dir.file("a.db"));
}
