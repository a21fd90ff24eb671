// The monitor's round as plain logic (actors/monitor/health_round.hpp), and
// metric roles end to end: what counts toward a target is declared with the
// metric, so a custom actor's requests and errors count as a subsystem's do.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>

#include <caf/all.hpp>

#include "actors/monitor/health_round.hpp"
#include "p21/histogram.hpp"
#include "p21/metrics.hpp"
#include "p21/monitor.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/protocol/cache.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

// Names no suffix rule knows: only their roles make them count.
constexpr metric_def app_calls =
    metric_def{"myapp_calls", "Calls of the application.", metric_kind::counter}.with(
        metric_role::request);
constexpr metric_def app_failures =
    metric_def{"myapp_failures", "Failed calls of the application.", metric_kind::counter}.with(
        metric_role::error);
constexpr metric_def app_found =
    metric_def{"myapp_found", "Lookups that found.", metric_kind::counter}.with(metric_role::hit);
constexpr metric_def app_not_found =
    metric_def{"myapp_not_found", "Lookups that did not.", metric_kind::counter}.with(
        metric_role::miss);
constexpr metric_def app_took =
    metric_def{"myapp_took_seconds", "Time per call.", metric_kind::histogram, "seconds"}.with(
        metric_role::latency);

metric_set counters(std::initializer_list<metric_sample> xs) {
  metric_set m;
  m.counters = xs;
  return m;
}

} // namespace

TEST_CASE("a metric declares its roles and its samples carry them") {
  STATIC_REQUIRE(has_role(app_calls.roles, metric_role::request));
  STATIC_REQUIRE_FALSE(has_role(app_calls.roles, metric_role::error));
  STATIC_REQUIRE(has_role(cache_metrics::hits.roles, metric_role::hit));
  STATIC_REQUIRE(has_role(cache_metrics::hits.roles, metric_role::request));
  CHECK(app_failures(3).roles == app_failures.roles);
  metrics_registry r;
  r.make_counter(app_calls).inc(2);
  r.make_histogram(app_took).record(1000);
  auto m = r.collect();
  REQUIRE(m.counters.size() == 1);
  CHECK(has_role(m.counters[0].roles, metric_role::request));
  REQUIRE(m.histograms.size() == 1);
  CHECK(has_role(m.histograms[0].roles, metric_role::latency));
}

TEST_CASE("counters with roles request and error make the error rate from their growth") {
  health_round round;
  health_inputs in;
  auto before = counters({app_calls(10), app_failures(1)});
  round.measure({&before}, in);
  auto after = counters({app_calls(110), app_failures(26), {"myapp_other", {}, 500, 0}});
  round.measure({&after}, in);
  REQUIRE(in.error_rate);
  CHECK(*in.error_rate == Approx(0.25)); // 25 of 100; the role-less counter is not a request
  CHECK_FALSE(in.cache_hit_rate);
  // A round without traffic has no error rate (not the last one's).
  round.measure({&after}, in);
  CHECK_FALSE(in.error_rate);
}

TEST_CASE("counters with roles hit and miss make the cache hit rate") {
  health_round round;
  health_inputs in;
  auto m = counters({app_found(3), app_not_found(1)});
  round.measure({&m}, in);
  REQUIRE(in.cache_hit_rate);
  CHECK(*in.cache_hit_rate == Approx(0.75));
  CHECK_FALSE(in.error_rate); // hits and misses of this one are no requests
}

TEST_CASE("a user's counters named by the old suffixes still count") {
  health_round round;
  health_inputs in;
  auto m = counters({{"app_requests", {}, 10, 0}, {"app_errors", {}, 5, 0}});
  round.measure({&m}, in);
  REQUIRE(in.error_rate);
  CHECK(*in.error_rate == Approx(0.5));
}

TEST_CASE("histograms with role latency make the p95 of the round's samples") {
  health_round round;
  health_inputs in;
  histogram h;
  for (int i = 0; i < 100; ++i)
    h.record(uint64_t{10'000'000}); // 10 ms
  metric_set m;
  m.histograms = {h.summary(app_took, 1e-9)};
  round.measure({&m}, in);
  REQUIRE(in.p95_seconds);
  CHECK(*in.p95_seconds <= 0.025); // within the bucket of 10 ms (buckets 5, 10, 25 ms)
  CHECK(*in.p95_seconds >= 0.005);
  // A histogram without the role is not a response time.
  health_round other;
  health_inputs none;
  metric_set plain;
  plain.histograms = {h.summary("myapp_sizes", 1e-9)};
  other.measure({&plain}, none);
  CHECK_FALSE(none.p95_seconds);
}

TEST_CASE("a round's summary files each component's series under it and counts rounds") {
  std::map<std::string, metric_set> collected;
  collected["mine"] = counters({app_calls(7)});
  auto by = health_round::by_component(std::move(collected));
  REQUIRE(by.at("mine").counters.at(0).labels.at("component") == "mine");
  health_round round;
  health_inputs in;
  performance_summary s;
  system_sample sys;
  sys.rss_bytes = 1000;
  round.summarize(s, in, health_round::targets_of(in), sys, by, metric_set{},
                  health_round::clock::now());
  CHECK(s.subsystems.at("mine").at("myapp_calls") == 7);
  CHECK(s.samples == 1);
  CHECK(s.system.at("rss_bytes") == 1000);
  CHECK(s.health_score == 100);
}

TEST_CASE("a custom actor's counters with roles request and error count in the monitor") {
  runtime rt{test_config()};
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto failures = std::make_shared<std::atomic<int>>(0);
  child_spec mine;
  mine.name = "myapp";
  mine.start = [=](caf::actor_system& sys) {
    return sys.spawn([=]() -> caf::behavior {
      return {[=](metrics_atom) {
        metric_set m;
        m.counters = {app_calls(double(calls->load())), app_failures(double(failures->load()))};
        return m;
      }};
    });
  };
  REQUIRE(rt.spawn_supervised(mine));
  auto mon = monitor::open(rt).value();
  REQUIRE(mon.sample()); // a baseline round: what follows is this round's traffic
  *calls = 40;
  *failures = 10;
  auto s = mon.sample().value();
  REQUIRE(s.targets.count("error_rate") == 1);
  CHECK(s.targets.at("error_rate") == Approx(0.25));
}
