#include <catch2/catch.hpp>

#include <fstream>

#include <spdlog/spdlog.h>

#include "actors/optimizer/engine.hpp"
#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/object_pool.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/resources.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;
using namespace p21::test::rules;

// -- the gate ---------------------------------------------------------------------------

TEST_CASE("a rule acts only after its for duration, not again in its cooldown, and not "
          "inside its hysteresis band") {
  rule_config rc;
  rc.threshold = 80;
  rc.clear_threshold = 70;
  rc.for_duration = 30s;
  rc.cooldown = 60s;
  rule_gate g{rc, true};
  auto t = steady::time_point{};
  CHECK_FALSE(g.observe(90, t));
  CHECK_FALSE(g.observe(90, t + 29s));
  REQUIRE(g.observe(90, t + 30s));
  g.acted(t + 30s);
  CHECK_FALSE(g.observe(90, t + 60s)); // cooldown
  CHECK_FALSE(g.observe(75, t + 80s)); // inside the band: still firing, in cooldown
  CHECK(g.firing());
  CHECK(g.observe(75, t + 90s)); // cooldown over, still above the clear threshold
  g.acted(t + 90s);
  CHECK_FALSE(g.observe(69, t + 100s)); // cleared
  CHECK_FALSE(g.firing());
  // Oscillating inside the band never starts the rule again.
  for (int i = 0; i < 20; ++i)
    CHECK_FALSE(g.observe(i % 2 ? 79 : 71, t + 200s + i * 40s));
  CHECK_FALSE(g.firing());
}

TEST_CASE("a disabled rule never acts") {
  rule_config rc;
  rc.enabled = false;
  rc.threshold = 1;
  rule_gate g{rc, true};
  CHECK_FALSE(g.observe(100, steady::time_point{}));
}

// -- the rules --------------------------------------------------------------------------

TEST_CASE("rule 1 shrinks every cache by its step and releases SQLite memory") {
  auto cfg = quick_rules();
  rule(cfg, "memory_pressure").step = 0.3;
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  auto s = base(t);
  s.caches.push_back({"cache.other/0", 0, 0, 0, 0, 10, 1 << 20});
  s.memory_percent = 90;
  auto ds = of_rule(e.evaluate(s), "memory_pressure");
  REQUIRE(ds.size() == 4);
  CHECK(ds[0].kind == decision::shrink_cache);
  CHECK(ds[0].arg == 0.3);
  CHECK(ds[1].target == "cache.other/0");
  CHECK(ds[2].kind == decision::release_memory);
  CHECK(ds[2].target == "db_pool");
  CHECK(ds[3].kind == decision::signal_pressure);
  CHECK(ds[3].arg == 0.3);
}

TEST_CASE("rule 2 grows a capacity-bound cache and undoes a growth that did not help") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  auto s = base(t);
  e.evaluate(s);
  // 1000 lookups, 40 % hits, most misses on keys evicted before: capacity.
  s.now += 60s;
  s.caches[0].hits = 400;
  s.caches[0].misses = 600;
  s.caches[0].capacity_misses = 500;
  auto grow = of_rule(e.evaluate(s), "cache_hit_rate");
  REQUIRE(grow.size() == 1);
  CHECK(grow[0].kind == decision::resize_cache);
  CHECK(grow[0].arg == 1250); // + 25 %
  // The next interval's hit rate is no better: the growth is undone.
  s.now += 60s;
  s.caches[0].hits += 410;
  s.caches[0].misses += 590;
  s.caches[0].capacity_misses += 400;
  s.caches[0].max_entries = 1250;
  auto undo = of_rule(e.evaluate(s), "cache_hit_rate");
  REQUIRE(undo.size() == 1);
  CHECK(undo[0].arg == 1000);
}

TEST_CASE(
    "rule 2 keeps a growth that raised the hit rate and does not grow without capacity misses") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  s.now += 60s;
  s.caches[0].hits = 400;
  s.caches[0].misses = 600;
  s.caches[0].capacity_misses = 10;
  REQUIRE(of_rule(e.evaluate(s), "cache_hit_rate").size() == 1);
  s.now += 60s;
  s.caches[0].hits += 900; // 90 %: it helped
  s.caches[0].misses += 100;
  s.caches[0].max_entries = 1250;
  CHECK(of_rule(e.evaluate(s), "cache_hit_rate").empty());
  // Low hit rate but no capacity misses (cold misses, or evicted keys never
  // asked for again): growing would not help.
  optimizer_engine cold{cfg};
  auto c = base(steady::time_point{} + 1h);
  cold.evaluate(c);
  c.now += 60s;
  c.caches[0].hits = 100;
  c.caches[0].misses = 900;
  c.caches[0].evictions = 900;
  CHECK(of_rule(cold.evaluate(c), "cache_hit_rate").empty());
}

TEST_CASE("rules 1 and 2 never act against each other in one interval") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  s.now += 60s;
  s.memory_percent = 95;
  s.caches[0].hits = 100;
  s.caches[0].misses = 900;
  s.caches[0].capacity_misses = 900;
  auto ds = e.evaluate(s);
  CHECK(of_rule(ds, "memory_pressure").size() == 3);
  CHECK(of_rule(ds, "cache_hit_rate").empty());
}

TEST_CASE("rule 3 grows the pool while reads wait, within pool_size + max_overflow, then "
          "shrinks back when calm") {
  auto cfg = quick_rules();
  rule(cfg, "connection_pool").cooldown = 30s;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  s.db->waiting = 5;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 6; ++i, s.now += 30s)
    for (auto& d : of_rule(e.evaluate(s), "connection_pool"))
      sizes.push_back(uint64_t(d.arg));
  CHECK(sizes == std::vector<uint64_t>{5, 6, 7, 8}); // +1 (25 % of 4) per cooldown, max 8
  s.db->waiting = 0;
  s.db->idle = 6;
  sizes.clear();
  for (int i = 0; i < 8; ++i, s.now += 30s)
    for (auto& d : of_rule(e.evaluate(s), "connection_pool"))
      sizes.push_back(uint64_t(d.arg));
  CHECK(sizes == std::vector<uint64_t>{7, 6, 5, 4}); // back to the configured 4, no further
}

TEST_CASE("rule 6 lowers subprocess concurrency under CPU load and restores it gradually, "
          "not straight back to the level that overloaded") {
  auto cfg = quick_rules();
  cfg.performance.monitor_interval = 10s;
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  auto procs = [](const std::vector<decision>& ds) {
    std::vector<uint64_t> out;
    for (auto& d : ds)
      if (d.rule == "cpu_usage" && d.kind == decision::set_max_processes)
        out.push_back(uint64_t(d.arg));
    return out;
  };
  auto interval = [](const std::vector<decision>& ds) {
    std::optional<double> out;
    for (auto& d : ds)
      if (d.kind == decision::set_monitor_interval)
        out = d.arg;
    return out;
  };
  s.cpu_percent = 95;
  auto first = e.evaluate(s);
  CHECK(procs(first) == std::vector<uint64_t>{12}); // 16 x 0.75
  CHECK(interval(first) == 20.0);                   // background work stretched
  s.now += 60s;
  auto second = e.evaluate(s);
  CHECK(procs(second) == std::vector<uint64_t>{9});
  CHECK(interval(second) == 40.0); // at most 4x
  s.now += 60s;
  s.cpu_percent = 75; // inside the band: still firing, no restore
  auto third = e.evaluate(s);
  CHECK(procs(third) == std::vector<uint64_t>{6});
  CHECK_FALSE(interval(third)); // already at 4x
  s.cpu_percent = 50;           // cleared: back up 2 (25 % / 2 of 16) per interval, but
                                // only to one below the level that overloaded (9)
  std::vector<uint64_t> up;
  std::optional<double> restored;
  for (int i = 0; i < 9; ++i, s.now += 60s) {
    auto ds = e.evaluate(s);
    for (auto p : procs(ds))
      up.push_back(p);
    if (auto iv = interval(ds))
      restored = iv;
  }
  CHECK(up == std::vector<uint64_t>{8});
  CHECK(restored == 10.0);
  // After 10 calm evaluations the ceiling is forgotten.
  for (int i = 0; i < 6; ++i, s.now += 60s)
    for (auto p : procs(e.evaluate(s)))
      up.push_back(p);
  CHECK(up == std::vector<uint64_t>{8, 10, 12, 14, 16});
}

TEST_CASE("rule 8 moves max_processes toward what the load keeps busy") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  // 60 s with 16 slots, 2 commands busy on average: efficiency 12.5 %.
  s.now += 60s;
  s.proc->busy_time = 120s;
  s.proc->slot_time = 960s;
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 10); // halfway from 16 toward 3 (2 x 1.25, rounded up)
  CHECK(ds[0].value == Approx(12.5));
  // With work queued it does not take slots away.
  s.now += 60s;
  s.proc->busy_time += 120s;
  s.proc->slot_time += 600s;
  s.proc->queued = 5;
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
}

TEST_CASE("rule 5 grows the git cache when its hit rate is low and rule 7 checkpoints, "
          "vacuums and rotates logs on a full disk") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  e.evaluate(s);
  s.now += 60s;
  s.proc->git_hits = 10;
  s.proc->git_misses = 40;
  s.disk_percent["/data"] = 95;
  auto ds = e.evaluate(s);
  auto git = of_rule(ds, "git_cache");
  REQUIRE(git.size() == 1);
  CHECK(git[0].kind == decision::resize_git_cache);
  CHECK(git[0].arg == 320);
  auto disk = of_rule(ds, "disk_usage");
  REQUIRE(disk.size() == 3);
  CHECK(disk[0].kind == decision::checkpoint);
  CHECK(disk[1].kind == decision::vacuum);
  CHECK(disk[2].kind == decision::rotate_logs);
}

TEST_CASE("rule 4 learns the components used soon after start") {
  auto cfg = quick_rules();
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  s.first_use["db_pool"] = std::chrono::seconds{2};
  s.first_use["subprocess"] = std::chrono::seconds{600};
  s.first_use["cache.async/0"] = std::nullopt;
  auto ds = of_rule(e.evaluate(s), "lazy_loading");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].target == "db_pool");
  CHECK(e.preload() == std::vector<std::string>{"db_pool"});
  CHECK(of_rule(e.evaluate(s), "lazy_loading").empty()); // learned once
}

// -- the snapshot from typed stats --------------------------------------------------------

TEST_CASE("the snapshot reads the system through the monitor's families and every subsystem "
          "input from the subsystems' typed stats") {
  performance_summary sum;
  // The summary's text-keyed map is not what the rules read: these would be
  // wrong.
  sum.system = {{"cpu_percent", 1}, {"memory_percent", 1}, {"rss_bytes", 1}};
  namespace d = monitor_metrics;
  metric_set m;
  m.gauges = {d::system_cpu(0.55),       d::system_memory(0.30),
              d::resident_memory(600),   d::children_cpu(0.125),
              d::disk_usage(0.91, {{"path", "/data"}}), d::disk_usage(0.5, {{"path", "/logs"}})};
  cache_stats async;
  async.name = "async";
  async.hits = 7;
  async.misses = 3;
  async.evictions = 2;
  async.capacity_misses = 1;
  async.max_entries = 100;
  async.max_bytes = 4096;
  db_pool_stats db;
  db.waiting = 4;
  db.idle = 1;
  db.timeouts = 5;
  db.overflow_opened = 6;
  db.peak_in_use = 9;
  db.configured_size = 10;
  subprocess_stats proc;
  proc.max_processes = 12;
  proc.queued = 3;
  proc.busy_time = 2s;
  proc.slot_time = 8s;
  proc.git_hits = 11;
  proc.git_misses = 13;
  proc.git_capacity = 256;
  auto& stats = m.stats;
  stats["cache.async/0"] = caf::make_message(async);
  stats["db_pool"] = caf::make_message(db);
  stats["subprocess"] = caf::make_message(proc);
  // Not subsystem stats, or filed under no component: ignored.
  stats["app"] = caf::make_message(std::string{"cache_hits"});
  stats[""] = caf::make_message(async);
  auto s = make_snapshot(sum, m, 1000); // RSS is 60% of the budget
  CHECK(s.cpu_percent == Approx(55));
  CHECK(s.memory_percent == Approx(60));
  CHECK(s.rss_bytes == 600);
  CHECK(s.children_cpu_percent.value() == Approx(12.5));
  CHECK(s.disk_percent.at("/data") == Approx(91));
  CHECK(s.disk_percent.at("/logs") == Approx(50));
  REQUIRE(s.caches.size() == 1);
  auto& c = s.caches[0];
  CHECK(c.component == "cache.async/0");
  CHECK(c.hits == 7);
  CHECK(c.misses == 3);
  CHECK(c.evictions == 2);
  CHECK(c.capacity_misses == 1);
  CHECK(c.max_entries == 100);
  CHECK(c.max_bytes == 4096);
  REQUIRE(s.db);
  CHECK(s.db->waiting == 4);
  CHECK(s.db->idle == 1);
  CHECK(s.db->timeouts == 5);
  CHECK(s.db->overflow_opened == 6);
  CHECK(s.db->peak_in_use == 9);
  REQUIRE(s.proc);
  CHECK(s.proc->max_processes == 12);
  CHECK(s.proc->queued == 3);
  CHECK(s.proc->busy_time == 2s);
  CHECK(s.proc->slot_time == 8s);
  CHECK(s.proc->git_hits == 11);
  CHECK(s.proc->git_misses == 13);
  CHECK(s.proc->git_capacity == 256);
  // Without a budget, memory is the machine's; without a subsystem, no view.
  metric_set system_only;
  system_only.gauges = m.gauges;
  auto bare = make_snapshot(sum, system_only);
  CHECK(bare.memory_percent == Approx(30));
  CHECK(bare.caches.empty());
  CHECK_FALSE(bare.db);
  CHECK_FALSE(bare.proc);
}

TEST_CASE("rules act on a snapshot made from typed stats") {
  // Rule 3 reads waiting reads from db_pool_stats: the pool grows.
  optimizer_engine e{quick_rules()};
  performance_summary sum;
  db_pool_stats db;
  db.waiting = 8;
  metric_set m;
  m.stats = {{"db_pool", caf::make_message(db)}};
  auto s = make_snapshot(sum, m);
  s.now = steady::time_point{} + 1h;
  auto ds = of_rule(e.evaluate(s), "connection_pool");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::set_pool_size);
  CHECK(ds[0].target == "db_pool");
  CHECK(ds[0].arg > 4);
}

TEST_CASE("a rule a config does not set runs with its defaults") {
  config cfg; // built in code: no rule set
  CHECK(cfg.get<optimizer_config>().rules.empty());
  auto& cpu = rule(cfg, "cpu_usage");
  CHECK(cpu.threshold == default_rules().at("cpu_usage").threshold);
  cpu.threshold = 91;
  CHECK(rule(cfg, "cpu_usage").threshold == 91); // the same entry, not a fresh one
  CHECK(cfg.get<optimizer_config>().rules.size() == 1);
  CHECK_THROWS_WITH(rule(cfg, "cpu_usge"), Catch::Contains("did you mean 'cpu_usage'"));
  // A loaded config and a running node's have all nine.
  CHECK(load_config_string("").get<optimizer_config>().rules.size() == rule_names().size());
  auto written = to_toml(cfg);
  CHECK_THAT(written, Catch::Contains("[optimizer.rules.memory_pressure]"));
  CHECK(load_config_string(written).get<optimizer_config>().rules.at("cpu_usage").threshold == 91);
  // The engine fills the ones missing: rule 1 fires at its default 85%.
  config bare;
  bare.get<optimizer_config>().rules.clear();
  optimizer_engine e{bare};
  auto s = base(steady::time_point{} + 1h);
  s.memory_percent = 99; // above the default 85
  auto first = of_rule(e.evaluate(s), "memory_pressure");
  s.now += 1h; // past any default `for`
  auto later = of_rule(e.evaluate(s), "memory_pressure");
  CHECK(first.size() + later.size() > 0);
  s.memory_percent = 50; // below it: nothing more
  s.now += 2h;
  CHECK(of_rule(e.evaluate(s), "memory_pressure").empty());
}

TEST_CASE("a rule config with a negative step or an unknown rule is refused with its key") {
  CHECK_THROWS_WITH(load_config_string("[optimizer.rules.cpu_usage]\nstep = -0.5\n"),
                    Catch::Contains("optimizer.rules.cpu_usage.step") &&
                        Catch::Contains("fraction"));
  CHECK_THROWS_WITH(load_config_string("[optimizer.rules.cpu_usag]\n"),
                    Catch::Contains("did you mean 'cpu_usage'"));
  CHECK_THROWS_WITH(
      load_config_string("[optimizer.rules.cpu_usage]\nthreshold = 80\nclear_threshold = 90\n"),
      Catch::Contains("clear_threshold"));
}

// -- the actor --------------------------------------------------------------------------

TEST_CASE("the optimizer acts through the owning actor, and a dry run acts on nothing") {
  auto cfg = test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1}; // only on demand
  // A memory rule that always fires: every cache shrinks.
  rule(cfg, "memory_pressure").threshold = 0;
  rule(cfg, "memory_pressure").clear_threshold = 0;
  rule(cfg, "memory_pressure").for_duration = 0s;
  rule(cfg, "memory_pressure").cooldown = 0s;
  rule(cfg, "memory_pressure").step = 0.5;
  cfg.performance.auto_optimization = false; // dry run first
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  for (int i = 0; i < 10; ++i)
    REQUIRE_FALSE(c.put("k" + std::to_string(i), "v"));
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto dry = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  REQUIRE_FALSE(dry.empty());
  CHECK(dry[0].rule == "memory_pressure");
  CHECK_FALSE(dry[0].applied);
  CHECK(c.stats()->entries == 10); // nothing happened
  REQUIRE(rt.request<bool>(opt, 10s, dry_run_atom::value, false));
  auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  REQUIRE_FALSE(acted.empty());
  CHECK(acted[0].applied);
  CHECK_THAT(acted[0].action, Catch::Contains("shrink cache cache.async/0 by 50"));
  CHECK(eventually([&] { return c.stats()->entries == 5; }));
  // The log keeps the target's reply and, after the next evaluation, the
  // rule's metric after the action.
  REQUIRE(rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value));
  auto log =
      rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0}).value();
  auto shrink = std::find_if(log.begin(), log.end(), [](auto& a) {
    return a.applied && a.action.find("shrink cache") != std::string::npos;
  });
  REQUIRE(shrink != log.end());
  CHECK_THAT(shrink->reply, Catch::StartsWith("freed 5 entries"));
  CHECK(shrink->value_before > 0);
  CHECK(shrink->value_after > 0);
  // Counted on /metrics and listed among the monitor's events.
  auto mon = monitor::open(rt).value();
  auto text = mon.prometheus_text().value();
  CHECK_THAT(text, Catch::Contains("p21_optimizer_actions_total{rule=\"memory_pressure\"}"));
  CHECK_THAT(text,
             Catch::Contains("p21_optimizer_dry_run_actions_total{rule=\"memory_pressure\"}"));
  auto events = mon.events().value();
  CHECK(std::any_of(events.begin(), events.end(), [](auto& e) {
    return e.kind == "optimizer_action" && e.name == "memory_pressure";
  }));
}

// -- the resource manager ---------------------------------------------------------------

TEST_CASE("a managed scope releases what it acquired on every exit path, newest first") {
  resource_manager rm;
  std::vector<std::string> released;
  auto work = [&](bool fail) {
    managed scope{rm, "work"};
    scope.acquire("buffer", "memory", 4096, [&] { released.push_back("buffer"); });
    scope.acquire("socket", "connection", 1, [&] { released.push_back("socket"); });
    CHECK(rm.live().size() == 2);
    CHECK(rm.total("memory") == 4096);
    if (fail)
      throw std::runtime_error("boom");
  };
  work(false);
  CHECK(released == std::vector<std::string>{"socket", "buffer"});
  CHECK(rm.live().empty());
  released.clear();
  CHECK_THROWS(work(true));
  CHECK(released == std::vector<std::string>{"socket", "buffer"});
  CHECK(rm.live().empty());
  auto events = rm.events();
  REQUIRE(events.size() == 8);
  CHECK(events[0].kind == resource_event::acquired);
  CHECK(events[3].kind == resource_event::released);
  CHECK(events[3].resource.name == "buffer");
}

TEST_CASE("the leak report names a resource never released") {
  resource_manager rm;
  auto kept = rm.acquire("temp file /tmp/x", "file", 1, {}, "importer");
  auto gone = rm.acquire("scratch", "memory", 10);
  CHECK(rm.release(gone));
  CHECK_FALSE(rm.release(gone)); // once
  auto report = rm.leak_report();
  REQUIRE(report.size() == 1);
  CHECK_THAT(report[0], Catch::Contains("temp file /tmp/x") && Catch::Contains("importer") &&
                            Catch::Contains("never released"));
  CHECK(rm.release(kept));
  CHECK(rm.leak_report().empty());
}

TEST_CASE("memory pressure from the optimizer reaches every registered handler") {
  auto cfg = test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1};
  auto& mp = rule(cfg, "memory_pressure");
  mp.threshold = 0;
  mp.clear_threshold = 0;
  mp.cooldown = 0s;
  mp.step = 0.5;
  runtime rt{cfg};
  object_pool<std::string> pool{16};
  {
    std::vector<object_pool<std::string>::handle> held;
    for (int i = 0; i < 8; ++i)
      held.push_back(pool.acquire());
  } // 8 idle objects
  REQUIRE(pool.stats().idle == 8);
  std::atomic<int> calls{0};
  rt.resources().on_pressure("string pool", [&](double fraction) {
    pool.trim(fraction);
    ++calls;
  });
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  REQUIRE_FALSE(acted.empty());
  CHECK(calls == 1);
  CHECK(pool.stats().idle == 4);
  // Sent to the node actor, which owns the handlers; its reply is logged.
  auto relief = std::find_if(acted.begin(), acted.end(), [](auto& a) {
    return a.action.find("give back") != std::string::npos;
  });
  REQUIRE(relief != acted.end());
  CHECK(relief->target == "resources");
  CHECK_THAT(relief->reply, Catch::StartsWith("1 handler(s) called, heap "));
  auto text = monitor::open(rt).value().prometheus_text().value();
  CHECK_THAT(text, Catch::Contains("p21_optimizer_pressure_reaction_seconds "));
}
