// The optimizer's early rounds: an alert's change wakes the rules that read
// what it watches before `optimization_interval`, and a burst of wake-ups
// costs at most one round per gap.

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "actors/monitor/alerts.hpp"
#include "actors/optimizer/wake_limiter.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/resources.hpp"
#include "p21/rule.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;

TEST_CASE("early evaluations are rate-limited, and the last reason is never lost") {
  using clock = wake_limiter::clock;
  wake_limiter w{1s};
  auto t0 = clock::now();
  CHECK(w.ask(t0, false) == wake_limiter::verdict::now);
  w.ran(t0);
  // A flapping alert: one round at the end of the gap, however many ask.
  CHECK(w.ask(t0 + 10ms, false) == wake_limiter::verdict::later);
  CHECK(w.due() == t0 + 1s);
  for (int i = 0; i < 100; ++i)
    CHECK(w.ask(t0 + 20ms, false) == wake_limiter::verdict::pending);
  w.fire();
  CHECK(w.ask(t0 + 1s, false) == wake_limiter::verdict::now);
  w.ran(t0 + 1s);
  // Long after the last round: at once.
  CHECK(w.ask(t0 + 5s, false) == wake_limiter::verdict::now);
  // While a round runs (its sample may predate the reason): after a gap.
  wake_limiter busy{1s};
  CHECK(busy.ask(t0, true) == wake_limiter::verdict::later);
  CHECK(busy.due() == t0 + 1s);
}

namespace {

caf::expected<double> evaluations(runtime& rt, optimizer_actor opt) {
  auto m = rt.request<metric_set>(opt, 10s, metrics_atom::value);
  if (!m)
    return m.error();
  for (auto& c : m->counters)
    if (c.name == optimizer_metrics::evaluations.name)
      return c.value;
  return 0.0;
}

} // namespace

TEST_CASE("a burst of evaluate_now costs at most one round per second") {
  auto cfg = test::test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1};
  cfg.performance.monitor_interval = std::chrono::hours{1};
  cfg.get<monitor_config>().psi_trigger = "";
  runtime rt{cfg};
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i)
    caf::anon_send(opt, evaluate_now_atom::value, std::string{"test burst"});
  // An explicit evaluation queues behind the burst and ends with a round.
  REQUIRE(rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value));
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto n = evaluations(rt, opt).value();
  CHECK(n >= 1);
  // The first wake, the explicit round, and one deferred round per second.
  CHECK(n <= 2 + std::ceil(elapsed));
}

TEST_CASE("an alert that fires wakes the optimizer long before its interval") {
  auto cfg = test::test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1};
  cfg.performance.monitor_interval = 100ms;
  cfg.get<monitor_config>().psi_trigger = "";
  auto& always = cfg.get<monitor_config>().alerts["always"];
  always.metric = "memory_percent";
  always.threshold = -1;
  always.for_duration = 0s;
  // The rule whose action the test waits for: it acts on any memory.
  auto& mp = rule(cfg, "memory_pressure");
  mp.threshold = 0;
  mp.clear_threshold = 0;
  mp.cooldown = 0s;
  mp.for_duration = 0s;
  std::mutex mtx;
  std::condition_variable cv;
  bool called = false;
  runtime rt{cfg};
  rt.resources().on_pressure("probe", [&](double) {
    std::lock_guard<std::mutex> guard{mtx};
    called = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock{mtx};
    REQUIRE(cv.wait_for(lock, 20s, [&] { return called; }));
  }
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto log = rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0})
                 .value();
  CHECK(std::any_of(log.begin(), log.end(), [](auto& a) { return a.rule == "memory_pressure"; }));
  auto events = monitor::open(rt).value().events(0).value();
  CHECK(std::any_of(events.begin(), events.end(), [](auto& e) {
    return e.kind == "alert_firing" && e.name == "always";
  }));
}

TEST_CASE("a wake-up's scope merges the families of the wake-ups it waited for, and one without "
          "families wakes every rule") {
  wake_scope w;
  w.add(std::vector<std::string>{"cache_hits"});
  w.add(std::vector<std::string>{"system_memory_usage_ratio", "cache_hits"});
  CHECK(w.take() == std::vector<std::string>{"cache_hits", "system_memory_usage_ratio"});
  // Taken: the next round starts afresh.
  CHECK(w.take() == std::vector<std::string>{});
  w.add(std::vector<std::string>{"cache_hits"});
  w.add(std::nullopt);
  w.add(std::vector<std::string>{"db_pool_waiting"});
  CHECK_FALSE(w.take());
}

TEST_CASE("an alert names the metric families it watches, however the series is spelled") {
  CHECK(metric_family_key("p21_cache_hits_total") == "cache_hits");
  CHECK(metric_family_key("p21_db_acquire_seconds_count") == "db_acquire_seconds");
  CHECK(metric_family_key("myapp_jobs") == "myapp_jobs");
  CHECK(alert_families("p21_cache_hit_ratio{cache=\"r\"}") ==
        std::vector<std::string>{"cache_hit_ratio"});
  CHECK(alert_families("cpu_percent") ==
        std::vector<std::string>{"system_cpu_usage_ratio", "process_cpu_usage_ratio"});
  CHECK(alert_families("memory_percent") == memory_families());
  // The p95 and error-rate targets read whichever metrics carry the role.
  CHECK_FALSE(alert_families("p95_seconds"));
  CHECK_FALSE(alert_families("error_rate"));
}

namespace {

/// An application's rule that reads `family` and counts its evaluations.
struct counting_rule : tuning_rule {
  counting_rule(std::string name, std::string family)
    : tuning_rule(std::move(name), settings())
    , family_(std::move(family)) {}
  static rule_config settings() {
    rule_config rc;
    rc.threshold = rc.clear_threshold = 1e18; // never fires
    return rc;
  }
  std::vector<sensor> sensors() const override { return {sensor::rate_of(family_)}; }
  std::optional<double> measure(const rule_view&) override {
    std::lock_guard<std::mutex> guard{mtx};
    ++measured;
    cv.notify_all();
    return std::nullopt;
  }
  std::vector<knob_action> act(const rule_view&, double) override { return {}; }
  std::string family_;
  std::mutex mtx;
  std::condition_variable cv;
  int measured = 0;
  int count() {
    std::lock_guard<std::mutex> guard{mtx};
    return measured;
  }
};

} // namespace

TEST_CASE("an alert on a series wakes the rules that read its family, not the others") {
  auto cfg = test::test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1};
  cfg.performance.monitor_interval = 100ms;
  cfg.get<monitor_config>().psi_trigger = "";
  // Fires at the monitor's first sample: its own round counter.
  auto& samples = cfg.get<monitor_config>().alerts["sampled"];
  samples.metric = "p21_monitor_samples_total";
  samples.threshold = -1;
  samples.for_duration = 0s;
  // The targets whose inputs are no fixed family wake every rule.
  for (auto [name, metric] : {std::pair{"slow_responses", "p95_seconds"},
                              std::pair{"high_error_rate", "error_rate"}}) {
    auto& a = cfg.get<monitor_config>().alerts[name];
    a.metric = metric;
    a.enabled = false;
  }
  auto reader = std::make_shared<counting_rule>("reads_samples", "monitor_samples");
  auto other = std::make_shared<counting_rule>("reads_jobs", "myapp_jobs");
  auto& oc = cfg.get<optimizer_config>();
  oc.custom_rules = {reader, other};
  runtime rt{cfg};
  {
    std::unique_lock<std::mutex> lock{reader->mtx};
    REQUIRE(reader->cv.wait_for(lock, 20s, [&] { return reader->measured > 0; }));
  }
  // The round that ran `reader` has ended once the optimizer answers this.
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  REQUIRE(evaluations(rt, opt).value() >= 1);
  CHECK(other->count() == 0);
  // The timer's round (here an explicit one) runs every rule.
  REQUIRE(rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value));
  CHECK(other->count() == 1);
}
