// The optimizer's model mode and forecasts (issue 18): miss-ratio curves,
// Little's law, CPU per command, Holt's smoothing, forecast misses, rule 9.

#include <catch2/catch.hpp>

#include "actors/optimizer/engine.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/subprocess.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace p21::test::rules;
using namespace std::chrono_literals;

// -- models and forecasts (issue 18) ----------------------------------------------------

namespace {

/// `quick_rules()` in "model" mode.
config model_rules() {
  auto cfg = quick_rules();
  cfg.get<optimizer_config>().mode = "model";
  return cfg;
}

/// A cumulative histogram (seconds) with `counts[i]` samples in bucket i.
histogram_summary hist(const std::vector<uint64_t>& counts, double sum) {
  histogram_summary h;
  h.bounds = {0.01, 0.1, 0.5, 1, 5};
  uint64_t total = 0;
  for (auto c : counts) {
    total += c;
    h.cumulative.push_back(total);
  }
  h.count = total;
  h.sum = sum;
  return h;
}

} // namespace

TEST_CASE("the miss-ratio curve from ghost hits by depth says how many entries reach a hit rate") {
  std::vector<uint64_t> depths(40, 0);
  depths[ghost_depth_bucket(500)] = 500; // 500 misses a cache larger by <= 512 would hit
  // 1000 lookups, 400 hits: 80 % needs 400 of those 500 ghost hits.
  auto a = mrc_entries(depths, 400, 1000, 1000, 80);
  REQUIRE(a);
  CHECK(a->reached);
  CHECK(a->entries > 1430);
  CHECK(a->entries <= 1512);
  // 95 % lies beyond what the ghost list saw: as far as it sees.
  auto far = mrc_entries(depths, 400, 1000, 1000, 95);
  REQUIRE(far);
  CHECK_FALSE(far->reached);
  CHECK(far->entries == 1512);
  CHECK(far->hit_rate == Approx(90));
  // No ghost hit: the curve says nothing.
  CHECK_FALSE(mrc_entries(std::vector<uint64_t>(4, 0), 400, 1000, 1000, 80));
  CHECK(ghost_depth_bucket(1) == 0);
  CHECK(ghost_depth_bound(ghost_depth_bucket(777)) >= 777);
}

TEST_CASE("model mode: rule 2 jumps to the size the miss-ratio curve gives, held by the memory "
          "budget") {
  auto grown = [](uint64_t rss) {
    auto cfg = model_rules();
    optimizer_engine e{cfg};
    auto s = base(steady::time_point{} + 1h);
    s.memory_budget = 100ull << 20;
    s.rss_bytes = rss;
    s.caches[0].entries = 1000;
    s.caches[0].bytes = 1000 * 1024; // 1 KiB an entry
    e.evaluate(s);
    s.now += 60s;
    s.caches[0].hits = 400;
    s.caches[0].misses = 600;
    s.caches[0].capacity_misses = 300;
    s.caches[0].ghost_hit_depths.assign(40, 0);
    s.caches[0].ghost_hit_depths[ghost_depth_bucket(500)] = 500;
    auto ds = of_rule(e.evaluate(s), "cache_hit_rate");
    REQUIRE(ds.size() == 1);
    return ds[0];
  };
  auto free = grown(50ull << 20);
  CHECK(free.arg > 1430); // one jump to 80 %, not + 25 %
  CHECK(free.arg <= 1512);
  CHECK_THAT(free.describe(), Catch::Contains("miss-ratio curve: 80.0 %"));
  CHECK_THAT(free.describe(), Catch::Contains("within the memory budget"));
  // 200 KiB left below rule 1's clear threshold (75 % of 100 MiB): 200 entries.
  auto held = grown((75ull << 20) - 200 * 1024);
  CHECK(held.arg == 1200);
  CHECK_THAT(held.describe(), Catch::Contains("held to 1200 by the memory budget"));
}

TEST_CASE("model mode: rule 3 sets pool_size by Little's law in one move") {
  auto cfg = model_rules();
  cfg.get<database_config>().pool_size = 2;
  cfg.get<database_config>().max_overflow = 10;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  // 10 s: 1000 reads holding a connection 60 ms each (100/s x 0.06 s = 6)
  // and 10 s spent waiting (1 waiting on average): 7 connections.
  s.now += 10s;
  s.db->query_time = hist({0, 1000, 0, 0, 0}, 60);
  s.db->acquire_time = hist({900, 50, 50, 0, 0}, 10);
  s.db->peak_in_use = 2;
  s.db->overflow_opened = 3;
  auto ds = of_rule(e.evaluate(s), "connection_pool");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 7);
  CHECK_THAT(ds[0].describe(), Catch::Contains("Little's law"));
  // The same demand later: nothing more to do.
  s.now += 10s;
  s.db->query_time = hist({0, 2000, 0, 0, 0}, 120);
  s.db->acquire_time = hist({1900, 50, 50, 0, 0}, 10);
  CHECK(of_rule(e.evaluate(s), "connection_pool").empty());
  // Fixed mode: one step of 25 % of max_overflow.
  cfg.get<optimizer_config>().mode = "fixed";
  optimizer_engine f{cfg};
  auto t = base(steady::time_point{} + 1h);
  f.evaluate(t);
  t.now += 10s;
  t.db->overflow_opened = 3;
  auto fs = of_rule(f.evaluate(t), "connection_pool");
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].arg == 5);
}

TEST_CASE("a pool sized by its forecast stays ahead of a ramp whose peaks dip") {
  // One more client every 300 ms, as in the bench's db_pool_ramp; one
  // interval's peak falls short of its clients (a client started late),
  // which the forecast takes for a miss. The pool, sized for the top of the
  // forecast's band, must still hold the next interval's clients.
  auto cfg = model_rules();
  cfg.get<database_config>().pool_size = 4;
  cfg.get<database_config>().max_overflow = 8;
  rule(cfg, "connection_pool").predict = 600ms;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  uint64_t pool = cfg.get<database_config>().pool_size;
  const std::vector<uint64_t> peaks{1, 2, 3, 4, 5, 6, 7, 7, 9, 10};
  for (size_t i = 0; i + 1 < peaks.size(); ++i) {
    s.db->peak_in_use = peaks[i];
    for (auto& d : of_rule(e.evaluate(s), "connection_pool"))
      pool = uint64_t(d.arg);
    auto next_clients = i + 2;
    INFO("after interval " << i << " (peak " << peaks[i] << "): pool " << pool);
    CHECK(pool >= std::min<uint64_t>(next_clients, 12));
    s.now += 300ms;
  }
  CHECK(e.forecast_misses().at("connection_pool") >= 1);
}

TEST_CASE("model mode: rule 6 sets max_processes from the CPU per running command") {
  auto cfg = model_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  s.cpus = 4;
  e.evaluate(s);
  // 60 s, 8 commands running on average, the machine at 90 %: 11.25 % each;
  // 6 of them keep it under the clear threshold (70 %).
  s.now += 60s;
  s.cpu_percent = 90;
  s.proc->busy_time = 480s;
  auto ds = of_rule(e.evaluate(s), "cpu_usage");
  REQUIRE(!ds.empty());
  CHECK(ds[0].kind == decision::set_max_processes);
  CHECK(ds[0].arg == 6);
  CHECK_THAT(ds[0].describe(), Catch::Contains("8.00 commands running"));
  // Saturated: a whole CPU (25 % of 4) per command, 2 of them.
  optimizer_engine sat{cfg};
  auto t = base(steady::time_point{} + 1h);
  t.cpus = 4;
  t.cpu_percent = 100;
  auto ts = of_rule(sat.evaluate(t), "cpu_usage");
  REQUIRE(!ts.empty());
  CHECK(ts[0].arg == 2);
}

TEST_CASE("Holt's linear smoothing follows a ramp and reports its residual") {
  holt_forecast h;
  auto t = steady::time_point{} + 1h;
  CHECK_FALSE(h.at(60s));
  for (int i = 0; i < 5; ++i, t += 60s)
    h.observe(10.0 * i, t);
  REQUIRE(h.at(120s));
  CHECK(*h.at(120s) == Approx(60).margin(0.5)); // 40 now, +10 a minute
  CHECK(h.residual() == Approx(0).margin(0.5));
  REQUIRE(h.expected(t));
  CHECK(*h.expected(t) == Approx(50).margin(0.5));
}

TEST_CASE("a rule with predict acts on its forecast before the threshold is crossed") {
  auto cfg = model_rules();
  rule(cfg, "memory_pressure").predict = 2min;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  std::vector<decision> acted;
  for (double m : {50.0, 60.0, 70.0}) {
    s.memory_percent = m;
    for (auto& d : of_rule(e.evaluate(s), "memory_pressure"))
      acted.push_back(d);
    s.now += 60s;
  }
  // At 70 % and +10 a minute: 90 % within 2 minutes, past 85.
  REQUIRE(!acted.empty());
  CHECK(acted[0].value == 70);
  CHECK_THAT(acted[0].describe(), Catch::Contains("forecast"));
  // Without predict nothing happens below the threshold.
  optimizer_engine plain{model_rules()};
  auto p = base(steady::time_point{} + 1h);
  for (double m : {50.0, 60.0, 70.0}) {
    p.memory_percent = m;
    CHECK(of_rule(plain.evaluate(p), "memory_pressure").empty());
    p.now += 60s;
  }
}

TEST_CASE("a rule that acted on its first value forecasts the climb back and acts before the "
          "threshold") {
  // The bench's memory_pressure phase: a jump past the budget's threshold
  // (acted on at once), then a steady climb back of ~1.7 % per interval.
  auto cfg = model_rules();
  rule(cfg, "memory_pressure").predict = 400ms;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  std::vector<double> acted_at;
  for (double m : {92.0, 76.0, 74.8, 76.6, 78.3, 80.0, 81.7, 83.4, 85.1}) {
    s.memory_percent = m;
    if (!of_rule(e.evaluate(s), "memory_pressure").empty())
      acted_at.push_back(m);
    s.now += 200ms;
  }
  REQUIRE(acted_at.size() >= 2);
  CHECK(acted_at[0] == 92);
  CHECK(acted_at[1] < 85); // on the forecast, before the threshold
  CHECK(e.forecast_misses().count("memory_pressure") == 0);
}

TEST_CASE("a predict set at run time (a reload) turns forecasts on for a running rule") {
  auto cfg = model_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  for (double m : {50.0, 60.0}) {
    s.memory_percent = m;
    CHECK(of_rule(e.evaluate(s), "memory_pressure").empty());
    s.now += 60s;
  }
  auto rc = cfg.get<optimizer_config>().rules.at("memory_pressure");
  rc.predict = 2min;
  REQUIRE(e.set_rule("memory_pressure", rc));
  // The smoothing ran while forecasts were off: the next value acts.
  s.memory_percent = 70;
  auto acted = of_rule(e.evaluate(s), "memory_pressure");
  REQUIRE(!acted.empty());
  CHECK_THAT(acted[0].describe(), Catch::Contains("forecast"));
}

TEST_CASE("a forecast that does not come true is counted and makes its rule more cautious, then "
          "turns prediction off for a while") {
  auto cfg = model_rules();
  rule(cfg, "cpu_usage").predict = 2min;
  rule(cfg, "cpu_usage").threshold = 99;
  rule(cfg, "cpu_usage").clear_threshold = 98;
  rule(cfg, "cpu_usage").enabled = false; // forecasts are judged; the rule does not act
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  // A steady ramp: every forecast comes true.
  for (double c : {10.0, 20.0, 30.0, 40.0}) {
    s.cpu_percent = c;
    e.evaluate(s);
    s.now += 60s;
  }
  CHECK(e.forecast_misses().count("cpu_usage") == 0);
  CHECK(e.caution("cpu_usage", "subprocess") == 1);
  // Then the metric turns: the forecast of 50 meets 10.
  s.cpu_percent = 10;
  e.evaluate(s);
  CHECK(e.forecast_misses().at("cpu_usage") == 1);
  CHECK(e.caution("cpu_usage", "subprocess") == 2);
  // A jump (a miss), a plateau the forecast overshoots within its widened
  // band (no miss), a fall (the third miss).
  for (double c : {90.0, 90.0, 90.0, 90.0, 0.0}) {
    s.now += 60s;
    s.cpu_percent = c;
    e.evaluate(s);
  }
  CHECK(e.forecast_misses().at("cpu_usage") == 3);
  CHECK(e.caution("cpu_usage", "subprocess") >= 4);
}

TEST_CASE("rule 9 sends its action where the slowest subsystem's time goes") {
  auto routed = [](auto shape) {
    auto cfg = model_rules();
    optimizer_engine e{cfg};
    auto s = base(steady::time_point{} + 1h);
    e.evaluate(s);
    s.now += 60s;
    shape(s);
    return of_rule(e.evaluate(s), "response_time");
  };
  // Reads wait ~1 s for a connection and hold it 5 ms: pool size.
  auto db = routed([](node_snapshot& s) {
    s.db->acquire_time = hist({0, 0, 0, 100, 0}, 80);
    s.db->query_time = hist({100, 0, 0, 0, 0}, 0.5);
  });
  REQUIRE(db.size() == 1);
  CHECK(db[0].kind == decision::set_pool_size);
  CHECK(db[0].arg == 5); // 4 + 25 %
  CHECK(db[0].value > 500);
  CHECK_THAT(db[0].describe(), Catch::Contains("waiting for a connection"));
  // Commands wait ~3 s for a slot and run 50 ms: the process limit.
  auto proc = routed([](node_snapshot& s) {
    s.proc->queue_time = hist({10, 0, 0, 0, 90}, 300);
    s.proc->duration = hist({0, 100, 0, 0, 0}, 5);
  });
  REQUIRE(proc.size() == 1);
  CHECK(proc[0].kind == decision::set_max_processes);
  CHECK(proc[0].arg == 20); // 16 + 25 %
  // Queries slow in themselves: no knob, nothing done.
  auto slow_sql = routed([](node_snapshot& s) {
    s.db->acquire_time = hist({100, 0, 0, 0, 0}, 0.1);
    s.db->query_time = hist({0, 0, 0, 0, 100}, 300);
  });
  CHECK(slow_sql.empty());
  // A cache whose misses load for 800 ms: the cache's size.
  auto cache = routed([](node_snapshot& s) {
    s.caches[0].hits = 500;
    s.caches[0].misses = 500;
    s.caches[0].load_successes = 500;
    s.caches[0].load_time = 400s;
  });
  REQUIRE(cache.size() == 1);
  CHECK(cache[0].kind == decision::resize_cache);
  CHECK(cache[0].target == "cache.async/0");
  CHECK(cache[0].arg == 1250);
}

TEST_CASE("[optimizer] mode and a rule's predict are config keys") {
  auto cfg = load_config_string("[optimizer]\nmode = \"fixed\"\n"
                                "[optimizer.rules.memory_pressure]\npredict = \"2m\"\n");
  CHECK(cfg.get<optimizer_config>().mode == "fixed");
  CHECK(cfg.get<optimizer_config>().rules.at("memory_pressure").predict == 2min);
  CHECK(cfg.get<optimizer_config>().rules.at("response_time").threshold == 500);
  CHECK(load_config_string("").get<optimizer_config>().mode == "model");
  CHECK_THROWS_WITH(load_config_string("[optimizer]\nmode = \"guess\"\n"),
                    Catch::Contains("optimizer.mode"));
}

TEST_CASE("model mode: rule 5 sizes the git cache from its miss-ratio curve") {
  auto cfg = model_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  // 100 git calls, 20 hits; 60 misses a cache larger by <= 64 would have
  // hit: 60 % (the clear threshold) needs 40 of them.
  s.now += 60s;
  s.proc->git_hits = 20;
  s.proc->git_misses = 80;
  s.proc->git_ghost_hit_depths.assign(30, 0);
  s.proc->git_ghost_hit_depths[ghost_depth_bucket(64)] = 60;
  auto ds = of_rule(e.evaluate(s), "git_cache");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::resize_git_cache);
  CHECK(ds[0].arg > 256 + 53);
  CHECK(ds[0].arg <= 256 + 64);
  CHECK_THAT(ds[0].describe(), Catch::Contains("miss-ratio curve: 60.0 %"));
}
