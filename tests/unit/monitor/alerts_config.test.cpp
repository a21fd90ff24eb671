#include <catch2/catch.hpp>

#include <filesystem>

#include "actors/monitor/alerts.hpp"
#include "p21/series_selector.hpp"
#include "p21/cache.hpp"
#include "p21/config_schema.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

config_error alert_refusal(const std::string& text) {
  try {
    static_cast<void>(load_config_string(text, "node.toml"));
  } catch (const config_error& e) {
    return e;
  }
  FAIL("the config was accepted:\n" << text);
  throw std::logic_error("unreachable");
}

/// Waits (bounded) for an event of `kind` about `name`.
std::optional<event> await_event(monitor& mon, const std::string& kind, const std::string& name) {
  std::optional<event> found;
  eventually(
      [&] {
        if (auto evs = mon.events())
          for (auto& e : *evs)
            if (e.kind == kind && e.name == name) {
              found = e;
              return true;
            }
        std::this_thread::sleep_for(5ms);
        return false;
      },
      20s);
  return found;
}

} // namespace

TEST_CASE("[monitor.alerts.NAME] adds alerts and overrides or disables the five defaults") {
  auto cfg = load_config_string(R"(
[monitor.alerts.high_cpu]
threshold = 90
clear = 85
for = "30s"

[monitor.alerts.high_memory]
enabled = false

[monitor.alerts.shared_cache_cold]
metric = 'p21_cache_hit_ratio{cache="shared"}'
below = true
threshold = 0.5
severity = "critical"
on_fire = ["/usr/bin/logger", "cold cache"]
)",
                                "node.toml");
  auto& alerts = cfg.get<monitor_config>().alerts;
  REQUIRE(alerts.size() == 6);
  CHECK(alerts.at("high_cpu").metric == "cpu_percent");
  CHECK(alerts.at("high_cpu").threshold == 90);
  CHECK(alerts.at("high_cpu").clear == 85);
  CHECK(alerts.at("high_cpu").for_duration == 30s);
  CHECK_FALSE(alerts.at("high_memory").enabled);
  CHECK(alerts.at("low_cache_hit_rate").threshold == 0.75); // untouched default
  auto& cold = alerts.at("shared_cache_cold");
  CHECK_FALSE(cold.above);
  CHECK(cold.severity == "critical");
  CHECK(cold.on_fire == std::vector<std::string>{"/usr/bin/logger", "cold cache"});
  CHECK_FALSE(cold.for_duration); // [monitor] alert_for
  auto rules = alert_rules(alerts, 5s);
  CHECK(rules.size() == 5); // high_memory is off
  for (auto& r : rules)
    CHECK(r.for_duration == (r.name == "high_cpu" ? 30s : 5s));
  // The writer's text reads back to the same alerts.
  auto again = load_config_string(to_toml(cfg), "again.toml");
  CHECK(again.get<monitor_config>().alerts.at("shared_cache_cold").metric == cold.metric);
  CHECK_FALSE(again.get<monitor_config>().alerts.at("shared_cache_cold").above);
  CHECK_FALSE(again.get<monitor_config>().alerts.at("high_memory").enabled);
  // An empty file has the five defaults.
  CHECK(load_config_string("", "empty.toml").get<monitor_config>().alerts.size() == 5);
}

TEST_CASE("alert config errors name the file, the line and the key") {
  auto e = alert_refusal("[monitor.alerts.x]\nmetric = \"cpu_percent\"\nthreshhold = 3\n");
  CHECK(e.file() == "node.toml");
  CHECK(e.line() == 3);
  CHECK(e.key() == "monitor.alerts.x.threshhold");
  CHECK_THAT(e.message(), Catch::Contains("did you mean 'threshold'"));

  e = alert_refusal("[monitor.alerts.x]\nthreshold = 3\n");
  CHECK(e.key() == "monitor.alerts.x.metric");
  CHECK(e.line() == 1);
  CHECK_THAT(e.message(), Catch::Contains("needs a metric"));

  e = alert_refusal(
      "[monitor.alerts.x]\nthreshold = 3\nmetric = 'p21_cache_hits_total{cache=shared}'\n");
  CHECK(e.key() == "monitor.alerts.x.metric");
  CHECK(e.line() == 3);
  CHECK_THAT(e.message(), Catch::Contains("quoted value for label 'cache'"));

  e = alert_refusal("[monitor.alerts.x]\nmetric = \"error_rate\"\n");
  CHECK(e.key() == "monitor.alerts.x.threshold");

  e = alert_refusal("[monitor.alerts.x]\nmetric = \"error_rate\"\nthreshold = 1\n"
                    "above = true\nbelow = true\n");
  CHECK(e.key() == "monitor.alerts.x.below");
  CHECK(e.line() == 5);

  e = alert_refusal("[monitor.alerts.high_cpu]\nclear = 95\n");
  CHECK(e.key() == "monitor.alerts.high_cpu.clear");
  CHECK(e.line() == 2);
  CHECK_THAT(e.message(), Catch::Contains("at or below threshold"));

  e = alert_refusal("[monitor.alerts.high_cpu]\non_fire = [\"\", \"x\"]\n");
  CHECK(e.key() == "monitor.alerts.high_cpu.on_fire");
  CHECK_THAT(e.message(), Catch::Contains("program"));

  e = alert_refusal("[monitor.alerts.high_cpu]\nseverity = \"loud\"\n");
  CHECK(e.key() == "monitor.alerts.high_cpu.severity");
}

TEST_CASE("a series selector's label matchers resolve against what the node exports") {
  std::string problem;
  auto sel =
      parse_series_selector(R"(p21_cache_hits_total{cache="shared", component="c.0"})", problem);
  REQUIRE(sel);
  CHECK(sel->name == "p21_cache_hits_total");
  CHECK(sel->labels.size() == 2);
  CHECK_FALSE(parse_series_selector("p21_x{cache=~\"a.*\"}", problem));
  CHECK_THAT(problem, Catch::Contains("only exact matchers"));
  CHECK_FALSE(parse_series_selector("p21_x{a=\"1\"} trailing", problem));
  CHECK_FALSE(parse_series_selector("", problem));

  metric_set m;
  m.counters = {{"cache_hits", {{"cache", "shared"}, {"component", "c.0"}}, 10},
                {"cache_hits", {{"cache", "shared"}, {"component", "c.1"}}, 5},
                {"cache_hits", {{"cache", "other"}, {"component", "o.0"}}, 100}};
  m.gauges = {{"cache_hit_ratio", {{"cache", "shared"}, {"component", "c.0"}}, 0.2},
              {"cache_hit_ratio", {{"cache", "shared"}, {"component", "c.1"}}, 0.4},
              {"resident_memory_bytes", {}, 1e6}};
  histogram_summary h;
  h.name = "db_query_seconds";
  h.count = 7;
  h.sum = 1.5;
  h.p95 = 0.3;
  m.histograms = {h};
  auto value = [&](const std::string& text) {
    std::string why;
    auto s = parse_series_selector(text, why);
    REQUIRE(s);
    return resolve_series(*s, m);
  };
  CHECK(value(R"(p21_cache_hits_total{cache="shared"})") == 15.0);
  CHECK(value(R"(p21_cache_hits_total{cache="shared",component="c.1"})") == 5.0);
  CHECK(value("p21_cache_hits_total") == 115.0);
  CHECK(value("cache_hits") == 115.0);                                   // the bare name works too
  CHECK(value(R"(p21_cache_hit_ratio{cache="shared"})") == Approx(0.3)); // ratios average
  CHECK(value("p21_resident_memory_bytes") == 1e6);
  CHECK(value("p21_db_query_seconds_count") == 7.0);
  CHECK(value(R"(p21_db_query_seconds{quantile="0.95"})") == 0.3);
  CHECK_FALSE(value(R"(p21_cache_hits_total{cache="none"})"));
  CHECK_FALSE(value("p21_no_such_series"));
}

TEST_CASE("an alert on an exported series runs on_fire and on_resolve with its name, value "
          "and state in the environment") {
  temp_dir dir;
  auto out = dir.file("fired.env");
  auto cfg = test_config();
  cfg.performance.monitor_interval = 1h; // rounds on demand (sample)
  auto& a = cfg.get<monitor_config>().alerts["async_cold"];
  a.metric = R"(p21_cache_hit_ratio{cache="async"})";
  a.above = false;
  a.threshold = 0.5;
  a.clear = 0.6;
  a.severity = "critical";
  // The program gets argv, no shell of the pool's; sh -c here is the
  // user's choice. Written then renamed, so the file is whole when seen.
  a.on_fire = {"/bin/sh", "-c",
               "env | grep '^P21_ALERT_' | sort > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"", out};
  auto resolved_out = dir.file("resolved.env");
  a.on_resolve = a.on_fire;
  a.on_resolve.back() = resolved_out;
  runtime rt{cfg};
  auto mon = monitor::open(rt).value();
  auto c = cache::open(rt, "async").value();
  for (int i = 0; i < 10; ++i)
    REQUIRE(c.get("absent" + std::to_string(i))); // misses: hit ratio 0
  auto s = mon.sample().value();
  CHECK(std::count(s.active_alerts.begin(), s.active_alerts.end(), "async_cold") == 1);
  REQUIRE(eventually(
      [&] {
        std::this_thread::sleep_for(5ms);
        return std::filesystem::exists(out);
      },
      20s));
  auto env = read_file(out);
  CHECK_THAT(env, Catch::Contains("P21_ALERT_NAME=async_cold"));
  CHECK_THAT(env, Catch::Contains("P21_ALERT_STATE=firing"));
  CHECK_THAT(env, Catch::Contains("P21_ALERT_VALUE=0.0"));
  CHECK_THAT(env, Catch::Contains("P21_ALERT_SEVERITY=critical"));
  CHECK_THAT(env, Catch::Contains("P21_ALERT_METRIC=p21_cache_hit_ratio"));
  auto fired = await_event(mon, "alert_firing", "async_cold");
  REQUIRE(fired);
  CHECK(fired->value == 0.0);
  // Hits lift the ratio past `clear` (0.6): the alert resolves and runs
  // on_resolve.
  REQUIRE_FALSE(c.put("present", "x"));
  for (int i = 0; i < 20; ++i)
    REQUIRE(c.get("present"));
  auto after = mon.sample().value();
  CHECK(std::count(after.active_alerts.begin(), after.active_alerts.end(), "async_cold") == 0);
  REQUIRE(eventually(
      [&] {
        std::this_thread::sleep_for(5ms);
        return std::filesystem::exists(resolved_out);
      },
      20s));
  CHECK_THAT(read_file(resolved_out), Catch::Contains("P21_ALERT_STATE=resolved"));
  auto evs = mon.events().value();
  CHECK(std::none_of(evs.begin(), evs.end(),
                     [](auto& e) { return e.kind == "alert_command_failed"; }));
}

TEST_CASE("a failing alert command is logged as an event and the monitor keeps sampling") {
  auto cfg = test_config();
  cfg.performance.monitor_interval = 1h;
  auto& a = cfg.get<monitor_config>().alerts["any_miss"];
  a.metric = R"(p21_cache_misses_total{cache="async"})";
  a.threshold = 0;
  a.on_fire = {"/nonexistent/p21-no-such-program"};
  auto& b = cfg.get<monitor_config>().alerts["any_miss_false"];
  b.metric = a.metric;
  b.threshold = 0;
  b.on_fire = {"/bin/false"};
  runtime rt{cfg};
  auto mon = monitor::open(rt).value();
  auto c = cache::open(rt, "async").value();
  REQUIRE(c.get("absent"));
  auto first = mon.sample().value();
  CHECK(std::count(first.active_alerts.begin(), first.active_alerts.end(), "any_miss") == 1);
  auto failed = await_event(mon, "alert_command_failed", "any_miss");
  REQUIRE(failed);
  CHECK_THAT(failed->message, Catch::Contains("/nonexistent/p21-no-such-program"));
  auto failed_too = await_event(mon, "alert_command_failed", "any_miss_false");
  REQUIRE(failed_too);
  CHECK_THAT(failed_too->message, Catch::Contains("exit code 1"));
  // The monitor went on: further rounds complete.
  auto next = mon.sample().value();
  CHECK(next.samples > first.samples);
}

TEST_CASE("replacing the alert set keeps unchanged alerts' state, drops removed ones and "
          "returns the firing ones it ends") {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  auto rule = [](std::string name, std::string metric, double threshold) {
    return alert_rule{std::move(name), std::move(metric), true, threshold, threshold, 0s};
  };
  std::vector<alert> alerts;
  auto first = replace_alerts(
      alerts, {rule("kept", "cpu_percent", 50), rule("retuned", "memory_percent", 50),
               rule("moved", "error_rate", 0.1), rule("gone", "p95_seconds", 0.2)});
  CHECK(first.added.size() == 4);
  CHECK(first.resolved.empty());
  alerts[0].observe(90, t0);  // kept fires
  alerts[1].observe(90, t0);  // retuned fires
  alerts[2].observe(0.5, t0); // moved fires
  alerts[3].observe(0.9, t0); // gone fires
  REQUIRE(std::all_of(alerts.begin(), alerts.end(), [](auto& a) { return a.firing(); }));
  auto change = replace_alerts(
      alerts, {rule("kept", "cpu_percent", 50), rule("retuned", "memory_percent", 95),
               rule("moved", "cpu_percent", 0.1), rule("fresh", "error_rate", 0.5)});
  CHECK(change.added == std::vector<std::string>{"fresh"});
  CHECK(change.changed == std::vector<std::string>{"retuned", "moved"});
  CHECK(change.removed == std::vector<std::string>{"gone"});
  // The removed alert and the one that now watches another metric were
  // firing: both are handed back to be resolved.
  REQUIRE(change.resolved.size() == 2);
  CHECK(change.resolved[0].rule().name == "moved");
  CHECK(change.resolved[1].rule().name == "gone");
  CHECK(change.resolved[1].last_value() == 0.9);
  REQUIRE(alerts.size() == 4);
  CHECK(alerts[0].rule().name == "kept");
  CHECK(alerts[0].firing());
  // A new threshold keeps the state: still firing until the new clear.
  CHECK(alerts[1].firing());
  CHECK(alerts[1].rule().threshold == 95);
  CHECK(alerts[1].observe(80, t0 + 1s) == alert::transition::resolved);
  CHECK_FALSE(alerts[2].firing());
  CHECK(alerts[2].rule().metric == "cpu_percent");
  CHECK(alerts[3].rule().name == "fresh");
  CHECK(replace_alerts(alerts, {rule("kept", "cpu_percent", 50)}).removed.size() == 3);
}

TEST_CASE("[monitor.alerts] is a live set: diff lists added and removed alerts as live and "
          "adopt applies them") {
  auto schema = standard_schema();
  auto old = load_config_string("[monitor.alerts.old_one]\nmetric = \"cpu_percent\"\n"
                                "threshold = 50\n",
                                "old.toml");
  auto now = load_config_string("[monitor.alerts.new_one]\nmetric = \"error_rate\"\n"
                                "threshold = 0.5\nseverity = \"critical\"\n"
                                "[monitor.alerts.high_cpu]\nthreshold = 90\n",
                                "now.toml");
  auto d = diff(schema, old, now);
  CHECK(d.restart.empty());
  auto has = [&](const std::string& k) {
    return std::find(d.live.begin(), d.live.end(), k) != d.live.end();
  };
  CHECK(has("monitor.alerts.old_one"));
  CHECK(has("monitor.alerts.new_one"));
  CHECK(has("monitor.alerts.high_cpu.threshold"));
  auto running = old;
  adopt(schema, now, running, d.live);
  CHECK(running.get<monitor_config>().alerts.count("old_one") == 0);
  REQUIRE(running.get<monitor_config>().alerts.count("new_one") == 1);
  CHECK(running.get<monitor_config>().alerts.at("new_one").metric == "error_rate");
  CHECK(running.get<monitor_config>().alerts.at("new_one").severity == "critical");
  CHECK(running.get<monitor_config>().alerts.at("high_cpu").threshold == 90);
  CHECK(diff(schema, running, now).empty());
}

TEST_CASE("a reload adds, retunes and removes running alerts, and a removed firing alert "
          "resolves") {
  auto cfg = test_config();
  cfg.performance.monitor_interval = 1h; // rounds on demand (sample)
  auto& a = cfg.get<monitor_config>().alerts["async_cold"];
  a.metric = R"(p21_cache_hit_ratio{cache="async"})";
  a.above = false;
  a.threshold = 0.5;
  a.clear = 0.6;
  runtime rt{cfg};
  auto mon = monitor::open(rt).value();
  auto c = cache::open(rt, "async").value();
  for (int i = 0; i < 10; ++i)
    REQUIRE(c.get("absent" + std::to_string(i))); // misses: hit ratio 0
  auto active = [&](const std::string& name) {
    auto s = mon.sample().value();
    return std::count(s.active_alerts.begin(), s.active_alerts.end(), name) == 1;
  };
  REQUIRE(active("async_cold"));
  // The reloaded set: async_cold gone, a new alert on the misses.
  auto next = cfg;
  next.get<monitor_config>().alerts.erase("async_cold");
  auto& b = next.get<monitor_config>().alerts["async_misses"];
  b.metric = R"(p21_cache_misses_total{cache="async"})";
  b.threshold = 5;
  auto report = rt.reload(next);
  CHECK(report.failed.empty());
  CHECK(report.restart_needed.empty());
  CHECK(std::count(report.applied.begin(), report.applied.end(), "monitor.alerts.async_cold") == 1);
  CHECK(std::count(report.applied.begin(), report.applied.end(), "monitor.alerts.async_misses") ==
        1);
  CHECK(rt.settings().get<monitor_config>().alerts.count("async_cold") == 0);
  CHECK(rt.settings().get<monitor_config>().alerts.count("async_misses") == 1);
  auto resolved = await_event(mon, "alert_resolved", "async_cold");
  REQUIRE(resolved);
  CHECK_THAT(resolved->message, Catch::Contains("removed by a reload"));
  CHECK_FALSE(active("async_cold"));
  CHECK(active("async_misses"));
  // A new threshold for a running alert keeps it firing until its clear.
  auto again = rt.settings();
  again.get<monitor_config>().alerts["async_misses"].threshold = 1000;
  again.get<monitor_config>().alerts["async_misses"].clear = 500;
  report = rt.reload(again);
  CHECK(std::count(report.applied.begin(), report.applied.end(),
                   "monitor.alerts.async_misses.threshold") == 1);
  CHECK_FALSE(active("async_misses")); // 10 misses are back past clear 500
  auto evs = mon.events().value();
  CHECK(std::count_if(evs.begin(), evs.end(), [](auto& e) {
          return e.kind == "alert_resolved" && e.name == "async_misses";
        }) == 1);
}
