// Sensors (p21/sensor.hpp) and rules declared in the config file
// (`[optimizer.rules.NAME]` with a sensor and a knob): how they read, how
// they are refused, and how the engine runs them.

#include <catch2/catch.hpp>

#include "actors/optimizer/engine.hpp"
#include "p21/config_schema.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/sensor.hpp"
#include "p21/series_selector.hpp"
#include "p21/subsystems.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test::rules;
using namespace std::chrono_literals;

TEST_CASE("a sensor is read from its text form and written back the same") {
  auto q = parse_sensor("myapp_queue_wait_seconds{quantile=\"0.95\", pool=\"a\"}");
  CHECK(q == sensor::quantile_of("myapp_queue_wait_seconds", 0.95, {{"pool", "a"}}));
  CHECK(parse_sensor(to_string(q)) == q);
  auto r = parse_sensor(" rate( myapp_jobs_total ) ");
  CHECK(r == sensor::rate_of("myapp_jobs_total"));
  CHECK(to_string(r) == "rate(myapp_jobs_total)");
  auto m = parse_sensor("mean(myapp_job_seconds{pool=\"a\"})");
  CHECK(m == sensor::mean_of("myapp_job_seconds", {{"pool", "a"}}));
  auto x = parse_sensor("ratio(hits{cache=\"r\"} / requests{cache=\"r\"})");
  CHECK(x == sensor::ratio_of("hits", {{"cache", "r"}}, "requests", {{"cache", "r"}}));
  CHECK(parse_sensor(to_string(x)) == x);
  CHECK(parse_sensor("myapp_jobs_running") == sensor::value_of("myapp_jobs_running"));
}

TEST_CASE("a sensor's selector is the series selector alerts use, escapes and all") {
  auto text = std::string{R"(p21_cache_hits_total{cache="say \"hi\"", component="c\\0"})"};
  std::string problem;
  auto sel = parse_series_selector(text, problem);
  REQUIRE(sel);
  auto s = parse_sensor(text);
  CHECK(s.family == sel->name);
  CHECK(s.labels == sel->labels);
  CHECK(s.labels.at("cache") == "say \"hi\"");
  CHECK(s.labels.at("component") == "c\\0");
  CHECK(parse_sensor(to_string(s)) == s);
  // The same refusal, in the same words, from both.
  CHECK_FALSE(parse_series_selector("x{a=~\"b\"}", problem));
  CHECK_THAT(problem, Catch::Contains("only exact matchers"));
  CHECK_THROWS_WITH(parse_sensor("rate(x{a=~\"b\"})"), Catch::Contains("only exact matchers"));
}

TEST_CASE("a malformed sensor is refused with what is wrong and where") {
  CHECK_THROWS_WITH(parse_sensor("rat(x)"), Catch::Contains("unknown function 'rat'"));
  CHECK_THROWS_WITH(parse_sensor("x{a=\"1\""), Catch::Contains("expected ',' or '}'"));
  CHECK_THROWS_WITH(parse_sensor("x{a=1}"), Catch::Contains("quoted value for label 'a'"));
  CHECK_THROWS_WITH(parse_sensor("x{quantile=\"0.9\"}"), Catch::Contains("0.5, 0.95 and 0.99"));
  CHECK_THROWS_WITH(parse_sensor("rate(x{quantile=\"0.95\"})"),
                    Catch::Contains("not inside rate"));
  CHECK_THROWS_WITH(parse_sensor("ratio(a)"), Catch::Contains("expected '/'"));
  CHECK_THROWS_WITH(parse_sensor("x y"), Catch::Contains("unexpected 'y' at offset 2"));
  CHECK_THROWS_WITH(parse_sensor(""), Catch::Contains("expected a metric name"));
}

namespace {

const char* queue_wait_toml = R"(
[optimizer.rules.queue_wait]
sensor = 'myapp_queue_wait_seconds{quantile="0.95"}'
above = "50ms"
for = "2s"
knob = "myapp.workers"
model = "littles_law"
arrivals = 'rate(myapp_jobs_total)'
service = 'mean(myapp_job_seconds)'
step = "+2"
cooldown = "10s"
predict = true
)";

/// Where a refusal points: "FILE:LINE:COL: KEY: message".
std::string refusal(const std::string& toml) {
  try {
    (void)load_config_string(toml);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "accepted";
}

} // namespace

TEST_CASE("a rule declared in the file reads as the issue's example writes it") {
  auto cfg = load_config_string(queue_wait_toml);
  auto& rc = cfg.get<optimizer_config>().rules.at("queue_wait");
  CHECK(rc.declared());
  CHECK(rc.sensor == "myapp_queue_wait_seconds{quantile=\"0.95\"}");
  CHECK(rc.fires_above);
  CHECK(rc.threshold == Approx(0.050));
  CHECK(rc.clear_threshold == Approx(0.050)); // no hysteresis unless set
  CHECK(rc.for_duration == 2s);
  CHECK(rc.cooldown == 10s);
  CHECK(rc.knob == "myapp.workers");
  CHECK(rc.model == "littles_law");
  CHECK(rc.step == 2);
  CHECK(rc.predict == 1min);
  // The nine built-in rules are still all there.
  for (auto& name : rule_names())
    CHECK(cfg.get<optimizer_config>().rules.count(name) == 1);
  // Written and read back, it is the same rule.
  auto again = load_config_string(to_toml(cfg));
  auto& rc2 = again.get<optimizer_config>().rules.at("queue_wait");
  CHECK(rc2.sensor == rc.sensor);
  CHECK(rc2.threshold == rc.threshold);
  CHECK(rc2.fires_above == rc.fires_above);
  CHECK(rc2.knob == rc.knob);
  CHECK(rc2.step == rc.step);
  CHECK(diff(standard_schema(), cfg, again).empty());
  auto below = load_config_string("[optimizer.rules.idle]\nsensor = 'rate(myapp_jobs_total)'\n"
                                  "below = 0.5\nclear_threshold = 1\nknob = \"myapp.workers\"\n"
                                  "scale = 0.5\n");
  auto& idle = below.get<optimizer_config>().rules.at("idle");
  CHECK_FALSE(idle.fires_above);
  CHECK(idle.threshold == 0.5);
  CHECK(idle.clear_threshold == 1);
  CHECK(idle.scale == 0.5);
}

TEST_CASE("a declared rule's mistakes are refused at their line with the key") {
  // An unknown name without a sensor: a typo of a built-in rule.
  CHECK_THAT(refusal("[optimizer.rules.cpu_usag]\nthreshold = 80\n"),
             Catch::Contains("did you mean 'cpu_usage'") &&
                 Catch::Contains("needs `sensor`, `above` or `below`, and `knob`"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nabove = 1\nstep = 1\n"),
             Catch::Contains("optimizer.rules.q.knob") && Catch::Contains("needs the `knob`"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nknob = \"k\"\nstep = 1\nabove = 1\n"
                     "sensor = 'rate(x'\n"),
             Catch::Contains(":5:") && Catch::Contains("optimizer.rules.q.sensor") &&
                 Catch::Contains("expected ')'"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nstep = 1\n"),
             Catch::Contains("needs `above = X` or `below = X`"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nstep = 1\nabove = 1\n"
                     "below = 0\n"),
             Catch::Contains(":6:") && Catch::Contains("not both"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nabove = 1\n"),
             Catch::Contains("littles_law") && Catch::Contains("`step`"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nabove = 1\n"
                     "model = \"little_law\"\n"),
             Catch::Contains(":5:") && Catch::Contains("did you mean 'littles_law'"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nabove = 1\n"
                     "model = \"littles_law\"\n"),
             Catch::Contains("needs `arrivals`"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nabove = 1\nstep = 1\n"
                     "backlog = 'myapp_queue_length'\n"),
             Catch::Contains(":6:") && Catch::Contains("optimizer.rules.q.backlog") &&
                 Catch::Contains("input of model = \"littles_law\""));
  CHECK_THAT(refusal(std::string{queue_wait_toml} + "backlog = 'myapp_queue_length{'\n"),
             Catch::Contains(":13:") && Catch::Contains("optimizer.rules.queue_wait.backlog") &&
                 Catch::Contains("sensor 'myapp_queue_length{'"));
  CHECK_THAT(refusal(std::string{queue_wait_toml} + "drain = \"1s\"\n"),
             Catch::Contains("optimizer.rules.queue_wait.drain") &&
                 Catch::Contains("set `backlog`"));
  CHECK_THAT(refusal(std::string{queue_wait_toml} +
                     "backlog = 'myapp_queue_length'\ndrain = \"-1s\"\n"),
             Catch::Contains("optimizer.rules.queue_wait.drain"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nabove = \"fast\"\n"),
             Catch::Contains(":4:") && Catch::Contains("neither a number nor a duration"));
  CHECK_THAT(refusal("[optimizer.rules.q]\nsensor = 'x'\nknob = \"k\"\nstep = 1\nabove = 5\n"
                     "clear_threshold = 9\n"),
             Catch::Contains("clear_threshold must be at or below threshold"));
  // A built-in rule reads its own sensors.
  CHECK_THAT(refusal("[optimizer.rules.cpu_usage]\nknob = \"subprocess.max_processes\"\n"),
             Catch::Contains(":2:") && Catch::Contains("built-in rule"));
  // A built-in rule's step is still a fraction.
  CHECK_THAT(refusal("[optimizer.rules.cpu_usage]\nstep = \"+2\"\n"),
             Catch::Contains("optimizer.rules.cpu_usage.step") && Catch::Contains("fraction"));
}

namespace {

/// A snapshot with the worker pool's metrics: `wait_p95` seconds of queue
/// wait, `jobs` submitted so far, `work` seconds of work per job over
/// `done` jobs, and the knob's value as its owner answered.
node_snapshot pool_snapshot(steady::time_point t, double wait_p95, double jobs, double done,
                            double work, std::optional<double> workers,
                            std::optional<double> queued = std::nullopt) {
  auto s = base(t);
  auto m = std::make_shared<metric_set>();
  if (queued)
    m->gauges.push_back({"myapp_queue_length", {{"pool", "worker_pool"}}, *queued});
  histogram_summary wait;
  wait.name = "myapp_queue_wait_seconds";
  wait.labels = {{"pool", "worker_pool"}};
  wait.count = uint64_t(done);
  wait.p50 = wait.p95 = wait.p99 = wait_p95;
  m->histograms.push_back(wait);
  histogram_summary job;
  job.name = "myapp_job_seconds";
  job.labels = {{"pool", "worker_pool"}};
  job.count = uint64_t(done);
  job.sum = done * work;
  m->histograms.push_back(job);
  m->counters.push_back({"myapp_jobs", {{"pool", "worker_pool"}}, jobs});
  m->counters.push_back({"myapp_jobs_failed", {{"pool", "worker_pool"}}, jobs / 10});
  s.metrics = m;
  if (workers)
    s.knobs["myapp.workers"] = *workers;
  return s;
}

config declared(const std::string& extra = {}) {
  auto cfg = load_config_string(std::string{queue_wait_toml} + extra);
  auto quick = quick_rules();
  for (auto& [name, rc] : quick.get<optimizer_config>().rules)
    cfg.get<optimizer_config>().rules[name] = rc;
  auto& rc = cfg.get<optimizer_config>().rules.at("queue_wait");
  rc.for_duration = 0s;
  rc.cooldown = 0s;
  rc.predict = 0s;
  return cfg;
}

} // namespace

TEST_CASE("a declared rule sizes its knob by Little's law in model mode and by its step when "
          "fixed") {
  auto cfg = declared();
  cfg.get<optimizer_config>().mode = "model";
  optimizer_engine e{cfg};
  CHECK(e.knobs_read() == std::vector<std::string>{"myapp.workers"});
  auto t = steady::time_point{} + 1h;
  CHECK(of_rule(e.evaluate(pool_snapshot(t, 0.010, 0, 0, 0.1, 2)), "queue_wait").empty());
  // 400 jobs in 10 s (40/s) of 0.1 s each: 4 busy, 5 at 80 %.
  auto ds = of_rule(e.evaluate(pool_snapshot(t + 10s, 0.200, 400, 400, 0.1, 2)), "queue_wait");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::set_knob);
  CHECK(ds[0].target == "myapp.workers");
  CHECK(ds[0].arg == 5);
  CHECK(ds[0].value == Approx(0.200));
  CHECK_THAT(ds[0].why, Catch::Contains("Little's law"));
  // Below the threshold: nothing.
  CHECK(of_rule(e.evaluate(pool_snapshot(t + 20s, 0.010, 800, 800, 0.1, 5)), "queue_wait")
            .empty());

  cfg.get<optimizer_config>().mode = "fixed";
  optimizer_engine f{cfg};
  f.evaluate(pool_snapshot(t, 0.010, 0, 0, 0.1, 2));
  auto step = of_rule(f.evaluate(pool_snapshot(t + 10s, 0.200, 400, 400, 0.1, 2)), "queue_wait");
  REQUIRE(step.size() == 1);
  CHECK(step[0].arg == 4); // 2 + step "+2"
}

TEST_CASE("a declared rule's Little's law also works off the queue found when it acts") {
  // 40/s of 0.1 s: 4 busy, 5 workers at 80 %; 30 jobs queued.
  auto evaluate = [](const std::string& extra) {
    auto cfg = declared(extra);
    cfg.get<optimizer_config>().mode = "model";
    optimizer_engine e{cfg};
    auto t = steady::time_point{} + 1h;
    e.evaluate(pool_snapshot(t, 0.010, 0, 0, 0.1, 2, 0));
    return of_rule(e.evaluate(pool_snapshot(t + 10s, 0.200, 400, 400, 0.1, 2, 30)), "queue_wait");
  };
  // Without `backlog` the queue is unknown: the pool keeps up with new
  // work only, and the 30 queued jobs wait on.
  auto plain = evaluate("");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].arg == 5);
  // With it and no `drain`: a worker for each queued job, all started now.
  auto at_once = evaluate("backlog = 'myapp_queue_length'\n");
  REQUIRE(at_once.size() == 1);
  CHECK(at_once[0].arg == 35);
  CHECK_THAT(at_once[0].why, Catch::Contains("+ 30.00 for 30 queued (done within one job's time)"));
  // drain = 1 s: 30 x 0.1 s of work in 1 s, 3 more workers.
  auto spread = evaluate("backlog = 'myapp_queue_length'\ndrain = \"1s\"\n");
  REQUIRE(spread.size() == 1);
  CHECK(spread[0].arg == 8);
  CHECK_THAT(spread[0].why, Catch::Contains("+ 3.00 for 30 queued (done within 1s)"));
  // A drain shorter than one job cannot start them sooner than at once.
  auto shorter = evaluate("backlog = 'myapp_queue_length'\ndrain = \"10ms\"\n");
  REQUIRE(shorter.size() == 1);
  CHECK(shorter[0].arg == 35);
}

TEST_CASE("littles_law sizes for the arrivals and for the queue, and says nothing without inputs") {
  auto a = littles_law(40, 0.1, 0.8).value();
  CHECK(a.busy == Approx(4));
  CHECK(a.for_backlog == 0);
  CHECK(a.workers == 5); // 4 / 0.8 is 5, not 6, whatever the rounding
  auto b = littles_law(40, 0.1, 0.8, 30, 0.5).value();
  CHECK(b.for_backlog == Approx(6));
  CHECK(b.workers == 11);
  // A queue and no arrivals: the queue alone.
  CHECK(littles_law(0, 0.1, 0.8, 4, 0).value().workers == 4);
  CHECK_FALSE(littles_law(0, 0.1, 0.8));
  CHECK_FALSE(littles_law(40, 0, 0.8, 30));
  CHECK_FALSE(littles_law(40, 0.1, 0.8, -1));
}

TEST_CASE("a declared rule waits for its knob's value and its sensor, and follows a reload") {
  auto cfg = declared();
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  e.evaluate(pool_snapshot(t, 0.010, 0, 0, 0.1, 2));
  // The owner did not answer: no value to move from.
  CHECK(of_rule(e.evaluate(pool_snapshot(t + 10s, 0.200, 400, 400, 0.1, std::nullopt)),
                "queue_wait")
            .empty());
  // No such metric on the node: nothing to judge.
  auto empty = base(t + 20s);
  empty.knobs["myapp.workers"] = 2;
  CHECK(of_rule(e.evaluate(empty), "queue_wait").empty());

  // A reload turns it into a scaling rule on another threshold, then
  // removes it.
  auto now = load_config_string(
      "[optimizer.rules.queue_wait]\nsensor = 'myapp_queue_wait_seconds{quantile=\"0.95\"}'\n"
      "above = 1\nknob = \"myapp.workers\"\nscale = 2\n");
  now.get<optimizer_config>().mode = "fixed";
  e.reconfigure(now);
  e.set_rule("queue_wait", now.get<optimizer_config>().rules.at("queue_wait"));
  CHECK(of_rule(e.evaluate(pool_snapshot(t + 30s, 0.200, 800, 800, 0.1, 3)), "queue_wait")
            .empty()); // 0.2 s is under the new threshold
  auto ds = of_rule(e.evaluate(pool_snapshot(t + 40s, 1.5, 900, 900, 0.1, 3)), "queue_wait");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 6);
  e.reconfigure(load_config_string(""));
  CHECK(e.knobs_read().empty());
  CHECK(of_rule(e.evaluate(pool_snapshot(t + 50s, 5, 900, 900, 0.1, 3)), "queue_wait").empty());
}

TEST_CASE("a sensor reads rates, means and ratios over the interval between evaluations") {
  // Through a declared rule: it fires on the value the sensor computes.
  auto make = [](const std::string& sensor, double above) {
    auto cfg = quick_rules();
    auto& rc = cfg.get<optimizer_config>().rules["probe"];
    rc.sensor = sensor;
    rc.threshold = rc.clear_threshold = above;
    rc.knob = "myapp.workers";
    rc.step = 1;
    rc.for_duration = rc.cooldown = 0s;
    return cfg;
  };
  auto t = steady::time_point{} + 1h;
  auto fires = [&](const std::string& sensor, double above) {
    optimizer_engine e{make(sensor, above)};
    e.evaluate(pool_snapshot(t, 0.01, 100, 100, 0.1, 2));
    auto ds = of_rule(e.evaluate(pool_snapshot(t + 10s, 0.01, 600, 300, 0.3, 2)), "probe");
    return ds.empty() ? std::optional<double>{} : std::optional<double>{ds[0].value};
  };
  // 500 jobs in 10 s.
  CHECK(fires("rate(myapp_jobs_total)", 49).value() == Approx(50));
  CHECK_FALSE(fires("rate(myapp_jobs_total)", 51));
  // (300 x 0.3 - 100 x 0.1) / 200 jobs = 0.4 s.
  CHECK(fires("mean(myapp_job_seconds)", 0.35).value() == Approx(0.4));
  // The label matcher selects; another pool has no series.
  CHECK_FALSE(fires("rate(myapp_jobs{pool=\"other\"})", 0));
  CHECK(fires("myapp_jobs{pool=\"worker_pool\"}", 500).value() == Approx(600));
  // 50 of 500 in the interval.
  CHECK(fires("ratio(myapp_jobs_failed_total / myapp_jobs_total)", 0.05).value() == Approx(0.1));
}

TEST_CASE("a wake-up runs only the rules that read what it names, and a rule it skipped keeps "
          "its interval") {
  auto cfg = quick_rules();
  auto declare = [&](const std::string& name, const std::string& sensor, double above) {
    auto& rc = cfg.get<optimizer_config>().rules[name];
    rc.sensor = sensor;
    rc.threshold = rc.clear_threshold = above;
    rc.knob = "myapp.workers";
    rc.step = 1;
    rc.for_duration = rc.cooldown = 0s;
  };
  declare("jobs", "rate(myapp_jobs_total)", 100);
  declare("wait", "myapp_queue_wait_seconds{quantile=\"0.95\"}", 0.050);
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  e.evaluate(pool_snapshot(t, 0.01, 0, 0, 0.1, 2));

  // Memory pressure wakes memory_pressure (a guard, woken by anything) and
  // no rule of the worker pool: neither the wait above its threshold nor
  // the 1000 jobs of this second.
  auto hot = pool_snapshot(t + 1s, 0.200, 1000, 1000, 0.1, 2);
  hot.memory_percent = 95;
  auto woken = e.evaluate(hot, std::vector<std::string>{"system_memory_usage_ratio"});
  CHECK(of_rule(woken, "jobs").empty());
  CHECK(of_rule(woken, "wait").empty());
  CHECK_FALSE(of_rule(woken, "memory_pressure").empty());

  // An alert on the queue wait's family, however spelled, wakes "wait".
  auto family = metric_family_key("p21_myapp_queue_wait_seconds_count");
  auto waits = e.evaluate(pool_snapshot(t + 1500ms, 0.200, 1000, 1000, 0.1, 2),
                          std::vector<std::string>{family});
  CHECK(of_rule(waits, "wait").size() == 1);
  CHECK(of_rule(waits, "jobs").empty());

  // The timer runs every rule; "jobs" measures from its own last round
  // (1000 jobs in 2 s), not from the wake-ups it missed (0 jobs since).
  auto ds = of_rule(e.evaluate(pool_snapshot(t + 2s, 0.01, 1000, 1000, 0.1, 2)), "jobs");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].value == Approx(500));
}
