#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <set>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <thread>

#include "actors/monitor/alerts.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/cluster.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/http_config.hpp"
#include "p21/monitor.hpp"
#include "p21/optimizer.hpp"
#include "p21/subprocess.hpp"
#include "actors/monitor/system_metrics.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

} // namespace

// -- metrics core -----------------------------------------------------------------------

TEST_CASE("histogram buckets are cumulative and percentiles stay within the relative error") {
  histogram h;
  std::mt19937_64 rng{7};
  std::lognormal_distribution<double> dist{13.0, 1.5}; // around 0.4 ms in ns
  std::vector<uint64_t> xs;
  for (int i = 0; i < 100'000; ++i) {
    auto x = static_cast<uint64_t>(dist(rng)) + 1;
    xs.push_back(x);
    h.record(x);
  }
  std::sort(xs.begin(), xs.end());
  for (double q : {0.5, 0.95, 0.99}) {
    auto exact = double(xs[static_cast<size_t>(q * double(xs.size())) - 1]);
    CHECK(std::abs(double(h.quantile(q)) - exact) / exact < 0.02);
  }
  auto s = h.summary("x_seconds", 1e-9);
  REQUIRE(s.bounds.size() == s.cumulative.size());
  REQUIRE_FALSE(s.bounds.empty());
  for (size_t i = 1; i < s.cumulative.size(); ++i) {
    CHECK(s.bounds[i] > s.bounds[i - 1]);
    CHECK(s.cumulative[i] >= s.cumulative[i - 1]);
  }
  CHECK(s.cumulative.back() <= s.count);
  // The 1 ms bucket holds about as many samples as are <= 1 ms.
  auto i = std::find(s.bounds.begin(), s.bounds.end(), 1e-3) - s.bounds.begin();
  auto exact = std::upper_bound(xs.begin(), xs.end(), 1'000'000ull) - xs.begin();
  CHECK(std::abs(double(s.cumulative[i]) - double(exact)) < 0.02 * double(xs.size()));
}

TEST_CASE("the registry returns one metric per name and labels and refuses bad names") {
  metrics_registry reg;
  auto& c = reg.make_counter("jobs", "Jobs done.", {{"kind", "a"}});
  c.inc();
  reg.make_counter("jobs", "Jobs done.", {{"kind", "a"}}).inc(2);
  reg.make_counter("jobs", "Jobs done.", {{"kind", "b"}}).inc();
  reg.make_gauge("depth", "Queue depth.").set(4.5);
  reg.make_histogram("job_response_seconds", "Job latency.").record(2'000'000);
  CHECK(c.value() == 3);
  auto m = reg.collect();
  CHECK(m.counters.size() == 2);
  CHECK(m.gauges.at(0).value == 4.5);
  CHECK(m.histograms.at(0).count == 1);
  CHECK_THROWS(reg.make_counter("bad-name", ""));
  CHECK_THROWS(reg.make_gauge("ok", "", {{"9x", "v"}}));
  CHECK(reg.help().at("jobs") == "Jobs done.");
}

TEST_CASE("the Prometheus text has HELP and TYPE per family, _total counters and histogram "
          "buckets") {
  metric_set a;
  a.counters = {{"db_queries", {{"component", "db_pool"}}, 5}};
  a.gauges = {{"cache_entries", {{"cache", "a\"b\\c\nd"}}, 2}};
  histogram h;
  h.record(1'500'000); // 1.5 ms
  a.histograms = {h.summary("db_query_seconds", 1e-9)};
  metric_set b;
  b.counters = {{"db_queries", {{"component", "db_pool"}}, 7}, // duplicate series: dropped
                {"db_queries", {{"component", "other"}}, 1}};
  auto text = render_prometheus({a, b}, {{"db_queries", "Statements run."}});
  CHECK_THAT(text, Catch::Contains("# HELP p21_db_queries_total Statements run.\n"
                                   "# TYPE p21_db_queries_total counter\n"
                                   "p21_db_queries_total{component=\"db_pool\"} 5\n"
                                   "p21_db_queries_total{component=\"other\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("p21_cache_entries{cache=\"a\\\"b\\\\c\\nd\"} 2"));
  CHECK_THAT(text, Catch::Contains("# TYPE p21_db_query_seconds histogram"));
  CHECK_THAT(text, Catch::Contains("p21_db_query_seconds_bucket{le=\"0.001\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("p21_db_query_seconds_bucket{le=\"0.0025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("p21_db_query_seconds_bucket{le=\"+Inf\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("p21_db_query_seconds_count 1\n"));
  CHECK(text.find("p21_db_queries_total{component=\"db_pool\"} 7") == std::string::npos);
}

// -- alerts, trends, health -------------------------------------------------------------

TEST_CASE("an input oscillating around the threshold fires once and clears once") {
  alert a{{"high_cpu", "cpu_percent", true, 70, 60, 0s}};
  auto t = steady::time_point{};
  int fired = 0, resolved = 0;
  for (int i = 0; i < 100; ++i) {
    auto v = i % 2 == 0 ? 69.0 : 71.0; // flaps around 70, never below 60
    auto r = a.observe(v, t + i * 1s);
    fired += r == alert::transition::fired;
    resolved += r == alert::transition::resolved;
  }
  CHECK(fired == 1);
  CHECK(resolved == 0);
  CHECK(a.firing());
  CHECK(a.observe(59, t + 200s) == alert::transition::resolved);
  CHECK_FALSE(a.firing());
}

TEST_CASE("an alert fires only after its condition held for the for duration") {
  alert a{{"low_hits", "cache_hit_rate", false, 0.75, 0.80, 30s}};
  auto t = steady::time_point{};
  CHECK(a.observe(0.5, t) == alert::transition::none);
  CHECK(a.pending());
  CHECK(a.observe(0.5, t + 20s) == alert::transition::none);
  CHECK(a.observe(0.9, t + 25s) == alert::transition::none); // recovered: pending resets
  CHECK_FALSE(a.pending());
  CHECK(a.observe(0.5, t + 30s) == alert::transition::none);
  CHECK(a.observe(0.5, t + 59s) == alert::transition::none);
  CHECK(a.observe(0.5, t + 60s) == alert::transition::fired);
  CHECK(a.observe(0.78, t + 61s) == alert::transition::none); // inside the band
  CHECK(a.observe(0.81, t + 62s) == alert::transition::resolved);
}

TEST_CASE("a reloaded for duration applies to a pending alert from when it began") {
  alert a{{"low_hits", "cache_hit_rate", false, 0.75, 0.80, 30s}};
  auto t = steady::time_point{};
  CHECK(a.observe(0.5, t) == alert::transition::none);
  CHECK(a.observe(0.5, t + 10s) == alert::transition::none);
  a.set_for_duration(5s);
  CHECK(a.observe(0.5, t + 11s) == alert::transition::fired);
}

TEST_CASE("a trend reports its EWMA baseline and slope") {
  trend tr{0.5, std::chrono::minutes{10}};
  auto t = steady::time_point{};
  for (int i = 0; i < 5; ++i)
    tr.observe(100 + 10 * i, t + std::chrono::minutes{i}); // +10 per minute
  CHECK(tr.slope_per_minute() == Approx(10));
  REQUIRE(tr.baseline());
  CHECK(*tr.baseline() > 100);
  CHECK(*tr.baseline() < 140);
  CHECK(tr.percent_per_minute() > 0);
}

TEST_CASE("the health score follows its documented formula") {
  CHECK(health_score({}) == 100);
  CHECK(health_score({50.0, 50.0, 0.9, 0.05, 0.0}) == 100);
  CHECK(health_score({85.0, {}, {}, {}, {}}) == Approx(90));
  CHECK(health_score({100.0, 100.0, 0.375, 0.4, 0.02}) == Approx(0));
  CHECK(health_score({{}, {}, {}, 0.3, 0.015}) == Approx(80));
  CHECK(health_status(100) == "healthy");
  CHECK(health_status(80) == "healthy");
  CHECK(health_status(60) == "degraded");
  CHECK(health_status(20) == "unhealthy");
}

// -- system readers on fixture files ------------------------------------------------------

TEST_CASE("the /proc and cgroup readers parse fixture files") {
  temp_dir proc, cgroup;
  ::mkdir((proc.path + "/self").c_str(), 0755);
  ::mkdir((proc.path + "/self/fd").c_str(), 0755);
  for (auto fd : {"0", "1", "2", "7"})
    proc.write(std::string{"self/fd/"} + fd, "");
  proc.write("stat", "cpu  1000 0 500 8000 500 0 0 0 0 0\ncpu0 1 2 3 4\n");
  proc.write("self/stat", "4242 (p21 (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                          "300 200 0 0 20 0 9 0 100 1000000 2500 18446744073709551615\n");
  proc.write("self/status", "Name:\tp21\nVmRSS:\t   10240 kB\nThreads:\t9\n");
  proc.write("meminfo",
             "MemTotal:       1000000 kB\nMemFree:  100 kB\nMemAvailable:    250000 kB\n");
  proc.write("loadavg", "0.75 0.50 0.25 1/100 4242\n");
  auto r = read_system(proc.path, cgroup.path);
  CHECK(r.cpu_total == uint64_t{10000});
  CHECK(r.cpu_idle == uint64_t{8500});
  CHECK(r.process_ticks == uint64_t{500});
  CHECK(r.children_ticks == uint64_t{0});
  CHECK(r.threads == uint64_t{9});
  CHECK(r.rss_bytes == uint64_t{10240 * 1024});
  CHECK(r.mem_total == uint64_t{1000000ull * 1024});
  CHECK(r.mem_available == uint64_t{250000ull * 1024});
  CHECK(r.load1 == Approx(0.75));
  CHECK(r.open_fds == uint64_t{4});
  CHECK_FALSE(r.cgroup_cpus);
  system_sampler sampler{4, 100};
  auto t = steady::time_point{};
  auto first = sampler.sample(r, t);
  CHECK(first.memory_percent == Approx(75));
  CHECK(first.cpus == 4);
  // 10 s later: 1000 more jiffies, 250 of them idle; the process used 200
  // ticks, its ended child processes 400.
  proc.write("stat", "cpu  1500 0 750 8250 500 0 0 0 0 0\n");
  proc.write("self/stat", "4242 (p21 (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                          "400 300 300 100 20 0 9 0 100 1000000 2500 18446744073709551615\n");
  auto second = sampler.sample(read_system(proc.path, cgroup.path), t + 10s);
  CHECK(second.cpu_percent == Approx(75));
  CHECK(second.process_cpu_percent == Approx(5)); // 2 s of CPU over 4 CPUs x 10 s
  CHECK(second.children_cpu_percent == Approx(10));
  // 1 ms later (the optimizer's fresh sample right after the monitor's tick):
  // 1 busy jiffy would read 100 %; the last figures stand instead.
  proc.write("stat", "cpu  1501 0 750 8250 500 0 0 0 0 0\n");
  auto third = sampler.sample(read_system(proc.path, cgroup.path), t + 10s + 1ms);
  CHECK(third.cpu_percent == Approx(75));
  CHECK(third.process_cpu_percent == Approx(5));
  CHECK(third.children_cpu_percent == Approx(10));
  // A full window later, measured from the older reading.
  proc.write("stat", "cpu  1601 0 750 8350 500 0 0 0 0 0\n");
  auto fourth = sampler.sample(read_system(proc.path, cgroup.path), t + 11s);
  CHECK(fourth.cpu_percent == Approx(100.0 * 101 / 201)); // since the reading at t + 10 s

  // Inside a cgroup: its limits are the machine's size.
  cgroup.write("memory.max", "2000000\n");
  cgroup.write("memory.current", "500000\n");
  cgroup.write("cpu.max", "150000 100000\n");
  cgroup.write("cpu.stat", "usage_usec 1000000\nuser_usec 1\n");
  system_sampler in_cgroup{4, 100};
  auto c1 = in_cgroup.sample(read_system(proc.path, cgroup.path), t);
  CHECK(c1.cpus == Approx(1.5));
  CHECK(c1.memory_percent == Approx(25));
  cgroup.write("cpu.stat", "usage_usec 4000000\n");
  auto c2 = in_cgroup.sample(read_system(proc.path, cgroup.path), t + 10s);
  CHECK(c2.cpu_percent == Approx(20)); // 3 s of CPU over 1.5 CPUs x 10 s
  cgroup.write("memory.max", "max\n");
  CHECK_FALSE(read_system(proc.path, cgroup.path).cgroup_mem_max);
  CHECK(disk_percent("/").has_value());
  CHECK_FALSE(disk_percent("/no/such/path").has_value());
}

// -- the monitor in a node ----------------------------------------------------------------

TEST_CASE("the monitor samples the system and every running component") {
  auto cfg = test_config();
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  REQUIRE_FALSE(c.put("k", "v"));
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.get("k"));
  REQUIRE(c.get("missing"));
  auto& jobs = rt.metrics().make_counter("app_requests", "Requests of the application.");
  jobs.inc(10);
  auto mon = monitor::open(rt).value();
  auto s = mon.sample().value();
  CHECK(s.samples >= 1);
  CHECK(s.system.at("rss_bytes") > 0);
  CHECK(s.system.at("threads") > 0);
  CHECK(s.system.count("cpu_percent") == 1);
  REQUIRE(s.targets.count("cache_hit_rate") == 1);
  CHECK(s.targets.at("cache_hit_rate") == Approx(0.75));
  CHECK(s.health_score >= 0);
  CHECK(s.health_score <= 100);
  bool saw_cache = false;
  for (auto& [name, stats] : s.subsystems)
    saw_cache |= stats.count("cache_hits.async") && stats.at("cache_hits.async") == 3;
  CHECK(saw_cache);
  CHECK(s.baselines.count("rss_bytes") == 1);
  // The db pool was never used: sampling did not start it.
  CHECK(rt.component("db_pool")->starts == 0);
  auto text = mon.prometheus_text().value();
  CHECK_THAT(text, Catch::Contains("p21_app_requests_total 10"));
  CHECK_THAT(text, Catch::Contains("p21_health_score"));
  CHECK_THAT(text, Catch::Contains("# HELP p21_app_requests_total Requests of the application."));
}

TEST_CASE("every series the monitor exports has its help text from a metric definition") {
  // Definitions are unique by name, and the exporter's lookup is built from them.
  std::set<std::string> names;
  for (auto& d : metric_definitions()) {
    CHECK(names.insert(d.name).second);
    CHECK(valid_metric_name(d.name));
    CHECK(std::string{d.help}.size() > 10);
    CHECK(metric_help().at(d.name) == d.help);
  }
  for (auto& d : cluster_metrics::all) // registered in the registry, not listed above
    CHECK(names.insert(d.name).second);
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.path + "/t.db";
  runtime rt{cfg};
  // Every subsystem reports, histograms included.
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x)"));
  REQUIRE(d.query("SELECT count(*) FROM t"));
  auto sp = subprocess::open(rt).value();
  REQUIRE(sp.run({"true"}));
  REQUIRE(cache::open(rt, "async").value().get("k"));
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  REQUIRE(rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value));
  auto mon = monitor::open(rt).value();
  REQUIRE(mon.sample());
  auto m = mon.metrics().value();
  // Each series is declared, and as the kind it is exported as.
  auto declared = [&](const std::string& name, metric_kind kind) {
    for (auto& def : metric_definitions())
      if (def.names(name))
        return def.kind == kind;
    return false;
  };
  size_t series = 0;
  for (auto& c : m.counters) {
    INFO("counter " << c.name);
    CHECK(declared(c.name, metric_kind::counter));
    ++series;
  }
  for (auto& g : m.gauges) {
    INFO("gauge " << g.name);
    CHECK(declared(g.name, metric_kind::gauge));
    ++series;
  }
  for (auto& h : m.histograms) {
    INFO("histogram " << h.name);
    CHECK(declared(h.name, metric_kind::histogram));
    ++series;
  }
  CHECK(series > 40);
  // So the text has no generic help line ("Perfect21 metric NAME").
  auto text = mon.prometheus_text().value();
  CHECK_THAT(text, Catch::Contains("# HELP p21_cache_hits_total Cache lookups that found a "
                                   "live entry."));
  CHECK_THAT(text, !Catch::Contains("Perfect21 metric"));
}

TEST_CASE("the monitor's metrics carry each subsystem's typed stats under its component") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.path + "/t.db"; // an in-memory database has no readers
  cfg.get<database_config>().pool_size = 3;
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  REQUIRE_FALSE(c.put("k", "v"));
  REQUIRE(c.get("k"));
  REQUIRE(db::open(rt).value().query("SELECT 1"));
  REQUIRE(subprocess::open(rt).value().run({"true"}));
  auto mon = monitor::open(rt).value();
  REQUIRE(mon.sample());
  auto m = mon.metrics().value();
  REQUIRE(m.stats.count("cache.async/0") == 1);
  REQUIRE(m.stats.at("cache.async/0").match_elements<cache_stats>());
  CHECK(m.stats.at("cache.async/0").get_as<cache_stats>(0).hits == 1);
  REQUIRE(m.stats.count("db_pool") == 1);
  REQUIRE(m.stats.at("db_pool").match_elements<db_pool_stats>());
  CHECK(m.stats.at("db_pool").get_as<db_pool_stats>(0).configured_size == 3);
  REQUIRE(m.stats.count("subprocess") == 1);
  REQUIRE(m.stats.at("subprocess").match_elements<subprocess_stats>());
  auto& sp = m.stats.at("subprocess").get_as<subprocess_stats>(0);
  CHECK(sp.finished == 1);
  CHECK(sp.git_capacity == cfg.get<cache_config>().git_maxsize);
  // The gauges render the same typed fields.
  for (auto& g : m.gauges) {
    if (db_pool_metrics::configured_size.names(g.name))
      CHECK(g.value == 3);
    if (subprocess_metrics::git_max_entries.names(g.name))
      CHECK(g.value == double(cfg.get<cache_config>().git_maxsize));
  }
}

TEST_CASE("events are kept newest first and paged with since") {
  runtime rt{test_config()};
  auto mon = monitor::open(rt).value();
  auto h = mon.actor().value();
  for (int i = 1; i <= 3; ++i) {
    event e;
    e.kind = "optimizer_action";
    e.name = "rule" + std::to_string(i);
    caf::anon_send(h, put_atom::value, e);
  }
  std::vector<event> all;
  REQUIRE(eventually([&] {
    all = mon.events().value();
    return all.size() == 3;
  }));
  CHECK(all[0].name == "rule3");
  CHECK(all[2].name == "rule1");
  auto newer = mon.events(all[1].seq).value();
  REQUIRE(newer.size() == 1);
  CHECK(newer[0].name == "rule3");
}

// -- HTTP -----------------------------------------------------------------------------------

namespace {

config http_config_for_test(const temp_dir& dir) {
  auto cfg = test_config();
  cfg.get<http_config>().listen = "127.0.0.1:0";
  cfg.get<database_config>().path = dir.path + "/mon.db";
  return cfg;
}

} // namespace

TEST_CASE("the HTTP endpoint serves /metrics, /health, /summary and /events on loopback") {
  temp_dir dir;
  runtime rt{http_config_for_test(dir)};
  auto port = rt.call<int>("http", get_atom::value).value();
  REQUIRE(port > 0);
  httplib::Client cli{"127.0.0.1", port};
  cli.set_read_timeout(10, 0);
  auto metrics = cli.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(metrics->body, Catch::Contains("# TYPE p21_health_score gauge"));
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->get_header_value("Content-Type") == "application/json");
  auto h = nlohmann::json::parse(health->body);
  CHECK(h.contains("status"));
  CHECK(h.contains("health_score"));
  CHECK(h["alerts"].is_array());
  auto summary = cli.Get("/summary");
  REQUIRE(summary);
  auto s = nlohmann::json::parse(summary->body);
  CHECK(s["system"].contains("rss_bytes"));
  CHECK(s.contains("subsystems"));
  auto events = cli.Get("/events?since=0");
  REQUIRE(events);
  CHECK(events->status == 200);
  CHECK(nlohmann::json::parse(events->body).is_array());
  CHECK(cli.Get("/events?since=abc")->status == 400);
  CHECK(cli.Get("/nope")->status == 404);
  auto post = cli.Post("/metrics", "x", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->get_header_value("Allow") == "GET");
  CHECK(cli.Delete("/elsewhere")->status == 404);
}

namespace {

/// `p21_sleep(ms)`: a slow SQL function, for slow responses on demand.
void sleep_ms(sqlite3_context* ctx, int, sqlite3_value** argv) {
  std::this_thread::sleep_for(std::chrono::milliseconds{sqlite3_value_int(argv[0])});
  sqlite3_result_int(ctx, 1);
}

} // namespace

TEST_CASE("an unhealthy node answers /health with 503 and its firing alerts") {
  temp_dir dir;
  auto cfg = http_config_for_test(dir);
  runtime rt{cfg, {db_pool_component("slow_pool", cfg, [](sqlite3* db) {
               sqlite3_create_function(db, "p21_sleep", 1, SQLITE_UTF8, nullptr, sleep_ms, nullptr,
                                       nullptr);
             })}};
  auto mon = monitor::open(rt).value();
  REQUIRE(mon.sample()); // a baseline round: what follows is this round's traffic
  auto d = db::open(rt, "slow_pool").value();
  for (int i = 0; i < 3; ++i)                                         // p95 above 400 ms: no points
    REQUIRE(d.query("SELECT p21_sleep(?)", {db_value::of(450 + i)})); // not cached
  for (int i = 0; i < 10; ++i)                                        // errors: no points
    REQUIRE_FALSE(d.query("SELECT * FROM missing"));
  auto c = cache::open(rt, "async").value();
  for (int i = 0; i < 10; ++i) // hit rate 0: no points
    REQUIRE(c.get("absent" + std::to_string(i)));
  auto s = mon.sample().value();
  INFO("score " << s.health_score << " p95 "
                << (s.targets.count("p95_seconds") ? s.targets.at("p95_seconds") : -1) << " alerts "
                << s.active_alerts.size());
  CHECK(s.health_score <= 40);
  CHECK(s.status == "unhealthy");
  CHECK(std::count(s.active_alerts.begin(), s.active_alerts.end(), "slow_responses") == 1);
  CHECK(std::count(s.active_alerts.begin(), s.active_alerts.end(), "high_error_rate") == 1);
  CHECK(std::count(s.active_alerts.begin(), s.active_alerts.end(), "low_cache_hit_rate") == 1);
  auto port = rt.call<int>("http", get_atom::value).value();
  httplib::Client cli{"127.0.0.1", port};
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 503);
  auto h = nlohmann::json::parse(health->body);
  CHECK(h["status"] == "unhealthy");
  // The three this test caused (a busy machine may add high_cpu).
  auto alerts = h["alerts"].get<std::vector<std::string>>();
  for (auto name : {"slow_responses", "high_error_rate", "low_cache_hit_rate"})
    CHECK(std::count(alerts.begin(), alerts.end(), name) == 1);
  auto events = nlohmann::json::parse(cli.Get("/events")->body);
  REQUIRE(events.size() >= 3);
  // The alerts woke the optimizer, whose actions may be newer.
  CHECK(std::any_of(events.begin(), events.end(),
                    [](auto& e) { return e["kind"] == "alert_firing"; }));
}

TEST_CASE("slow and malformed HTTP clients do not stall the endpoint") {
  temp_dir dir;
  runtime rt{http_config_for_test(dir)};
  auto port = rt.call<int>("http", get_atom::value).value();
  // Two clients that send half a request and then nothing.
  std::vector<int> slow;
  for (int i = 0; i < 2; ++i) {
    slow.push_back(connect_loopback(static_cast<uint16_t>(port)));
    REQUIRE(::write(slow.back(), "GET /hea", 8) == 8);
  }
  // One that sends garbage gets 400 and is closed.
  int bad = connect_loopback(static_cast<uint16_t>(port));
  std::string garbage = "\x01\x02 not http at all\r\n\r\n";
  REQUIRE(::write(bad, garbage.data(), garbage.size()) == ssize_t(garbage.size()));
  char buf[256] = {};
  auto n = ::read(bad, buf, sizeof(buf) - 1);
  REQUIRE(n > 0);
  CHECK_THAT(std::string(buf, size_t(n)), Catch::StartsWith("HTTP/1.1 400"));
  ::close(bad);
  // Meanwhile a normal client is served.
  httplib::Client cli{"127.0.0.1", port};
  cli.set_read_timeout(3, 0);
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  for (int fd : slow)
    ::close(fd);
}

TEST_CASE("a port already in use is a start error naming the address") {
  temp_dir dir;
  runtime first{http_config_for_test(dir)};
  auto port = first.call<int>("http", get_atom::value).value();
  auto cfg = http_config_for_test(dir);
  cfg.get<http_config>().listen = "127.0.0.1:" + std::to_string(port);
  CHECK_THROWS_WITH(runtime{cfg}, Catch::Contains("127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("promtool check metrics accepts the live /metrics output without a warning") {
  temp_dir dir;
  runtime rt{http_config_for_test(dir)};
  // Give every subsystem something to report, histograms included.
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x)"));
  REQUIRE(d.query("SELECT count(*) FROM t"));
  auto sp = subprocess::open(rt).value();
  REQUIRE(sp.run({"true"}));
  REQUIRE(cache::open(rt, "async").value().get("k"));
  rt.metrics()
      .make_histogram("app_response_seconds", "Response time of the application.")
      .record(3'000'000);
  auto mon = monitor::open(rt).value();
  REQUIRE(mon.sample());
  auto port = rt.call<int>("http", get_atom::value).value();
  httplib::Client cli{"127.0.0.1", port};
  auto metrics = cli.Get("/metrics");
  REQUIRE(metrics);
  REQUIRE(metrics->status == 200);
  CHECK_THAT(metrics->body, Catch::Contains("p21_db_query_seconds_bucket"));
  CHECK_THAT(metrics->body, Catch::Contains("p21_subprocess_duration_seconds_count"));
  command_request check;
  check.argv = {"promtool", "check", "metrics"};
  check.stdin_data = metrics->body;
  auto r = sp.run(check);
  REQUIRE(r); // promtool is installed by `make test` (scripts/install-deps.sh --test)
  INFO(r->stdout_data << r->stderr_data);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_data.empty());
  CHECK(r->stderr_data.empty());
}
