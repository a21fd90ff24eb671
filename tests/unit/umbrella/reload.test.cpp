// Reloading a config: which keys changed, which a running node adopts, and
// what a runtime does with them.

#include <catch2/catch.hpp>

#include "p21/cache_config.hpp"
#include "p21/config_schema.hpp"
#include "p21/db_config.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/p21.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"

namespace {

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

TEST_CASE("diff names live keys apart from those that need a restart") {
  auto schema = p21::standard_schema();
  auto old = p21::load_config_string("", "old.toml");
  auto now = p21::load_config_string(R"(
[cache]
async_maxsize = 100
[database]
path = "elsewhere.db"
pool_size = 4
[optimizer.rules.cpu_usage]
threshold = 90
[caches.hot]
max_entries = 10
[http]
listen = "127.0.0.1:9999"
)",
                                     "now.toml");
  auto d = p21::diff(schema, old, now);
  CHECK(has(d.live, "cache.async_maxsize"));
  CHECK(has(d.live, "database.pool_size"));
  CHECK(has(d.live, "optimizer.rules.cpu_usage.threshold"));
  CHECK(has(d.restart, "database.path"));
  CHECK(has(d.restart, "http.listen"));
  CHECK(has(d.restart, "caches.hot")); // a new cache is a new component
  CHECK_FALSE(has(d.live, "database.path"));
  CHECK(d.live.size() == 3);
  CHECK(p21::diff(schema, old, old).empty());
}

TEST_CASE("adopt writes the named keys and nothing else") {
  auto schema = p21::standard_schema();
  auto running = p21::load_config_string("", "old.toml");
  auto file = p21::load_config_string("[cache]\nasync_maxsize = 100\n[database]\npath = \"x.db\"\n"
                                      "[optimizer.rules.memory_pressure]\nstep = 0.5\n",
                                      "now.toml");
  p21::adopt(schema, file, running,
             {"cache.async_maxsize", "optimizer.rules.memory_pressure.step"});
  CHECK(running.get<p21::cache_config>().async_maxsize == 100);
  CHECK(running.get<p21::optimizer_config>().rules.at("memory_pressure").step == 0.5);
  CHECK(running.get<p21::database_config>().path == "perfect21.db");
}

TEST_CASE("a reload resizes the running cache, sets rules and names restart-only keys") {
  p21::test::temp_dir dir{"reload"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("a.db");
  cfg.components["cache.async/0"].prio = p21::priority::critical;
  p21::runtime rt{cfg};
  auto next = cfg;
  next.get<p21::cache_config>().async_maxsize = 100;
  next.get<p21::cache_config>().async_ttl = std::chrono::seconds{5};
  next.get<p21::database_config>().path = dir.file("b.db");
  p21::rule(next, "cpu_usage").threshold = 95;
  next.performance.optimization_interval = std::chrono::seconds{7};
  auto report = rt.reload(next);
  CHECK(has(report.applied, "cache.async_maxsize"));
  CHECK(has(report.applied, "cache.async_ttl"));
  CHECK(has(report.applied, "optimizer.rules.cpu_usage.threshold"));
  CHECK(has(report.applied, "performance.optimization_interval"));
  CHECK(report.restart_needed == std::vector<std::string>{"database.path"});
  CHECK(report.failed.empty());
  // The node runs with the new values; the restart-only key kept its old one.
  CHECK(rt.settings().get<p21::cache_config>().async_maxsize == 100);
  CHECK(rt.settings().get<p21::optimizer_config>().rules.at("cpu_usage").threshold == 95);
  CHECK(rt.settings().get<p21::database_config>().path == cfg.get<p21::database_config>().path);
  auto cache = p21::cache::open(rt, "async").value();
  CHECK(cache.stats().value().max_entries == 100);
  // The optimizer's log and the monitor's events both list the reload.
  auto opt = rt.actor_of<p21::optimizer_actor>("optimizer").value();
  CHECK(p21::test::eventually([&] {
    auto log = rt.request<std::vector<p21::optimizer_action>>(opt, std::chrono::seconds{5},
                                                              p21::events_atom::value, uint64_t{0});
    return log && !log->empty() && log->back().rule == "reload" &&
           log->back().action.find("cache.async_maxsize") != std::string::npos;
  }));
  auto mon = p21::monitor::open(rt).value();
  CHECK(p21::test::eventually([&] {
    auto events = mon.events();
    if (!events)
      return false;
    for (auto& e : *events)
      if (e.kind == "config_reload" &&
          e.message.find("restart needed for database.path") != std::string::npos)
        return true;
    return false;
  }));
}

TEST_CASE("a refused reload throws and changes nothing") {
  auto cfg = p21::test::test_config();
  p21::runtime rt{cfg};
  auto bad = cfg;
  bad.get<p21::cache_config>().async_maxsize = 50;
  bad.get<p21::database_config>().pool_size = 0;
  CHECK_THROWS_AS(rt.reload(bad), p21::config_error);
  CHECK(rt.settings().get<p21::cache_config>().async_maxsize == cfg.get<p21::cache_config>().async_maxsize);
  CHECK(rt.settings().get<p21::database_config>().pool_size == cfg.get<p21::database_config>().pool_size);
}

TEST_CASE("a reload sets the running subprocess pool's limits and the alerts' hold time") {
  auto cfg = p21::test::test_config();
  p21::runtime rt{cfg};
  auto pool = p21::subprocess::open(rt).value();
  REQUIRE(pool.run({"true"}));
  auto next = cfg;
  next.get<p21::subprocess_config>().max_processes = 3;
  next.get<p21::subprocess_config>().timeout = std::chrono::milliseconds{200};
  next.get<p21::subprocess_config>().output_cap = 4;
  next.get<p21::monitor_config>().alert_for = std::chrono::seconds{3};
  auto report = rt.reload(next);
  for (auto key : {"subprocess.max_processes", "subprocess.timeout", "subprocess.output_cap",
                   "monitor.alert_for"})
    CHECK(has(report.applied, key));
  CHECK(report.restart_needed.empty());
  // A command without a timeout of its own now gets the reloaded one, and
  // its output is cut at the reloaded cap.
  auto r = pool.run({"sh", "-c", "echo 123456789; sleep 30"});
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->stdout_data == "1234");
  CHECK(rt.settings().get<p21::subprocess_config>().timeout == std::chrono::milliseconds{200});
}

TEST_CASE("a reload sets the running db pool's pool_size and pool_timeout") {
  p21::test::temp_dir dir{"reload-db"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("a.db");
  p21::runtime rt{cfg};
  auto db = p21::db::open(rt).value();
  REQUIRE(db.query("SELECT 1"));
  auto next = cfg;
  next.get<p21::database_config>().pool_size = 3;
  next.get<p21::database_config>().pool_timeout = std::chrono::milliseconds{250};
  auto report = rt.reload(next);
  CHECK(has(report.applied, "database.pool_size"));
  CHECK(has(report.applied, "database.pool_timeout"));
  CHECK(report.failed.empty());
  CHECK(db.stats().value().configured_size == 3);
  CHECK(rt.settings().get<p21::database_config>().pool_timeout == std::chrono::milliseconds{250});
}

TEST_CASE("a reload sets every key of a running rule, predict included") {
  auto cfg = p21::test::test_config();
  p21::runtime rt{cfg};
  REQUIRE(rt.actor_of<p21::optimizer_actor>("optimizer"));
  auto next = cfg;
  auto& rc = p21::rule(next, "memory_pressure");
  rc.predict = std::chrono::minutes{2};
  rc.step = 0.5;
  rc.cooldown = std::chrono::seconds{5};
  auto report = rt.reload(next);
  for (auto key :
       {"optimizer.rules.memory_pressure.predict", "optimizer.rules.memory_pressure.step",
        "optimizer.rules.memory_pressure.cooldown"})
    CHECK(has(report.applied, key));
  CHECK(report.restart_needed.empty());
  CHECK(report.failed.empty());
  CHECK(rt.settings().get<p21::optimizer_config>().rules.at("memory_pressure").predict == std::chrono::minutes{2});
}
