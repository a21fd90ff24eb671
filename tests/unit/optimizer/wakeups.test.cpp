// The optimizer's early rounds: an alert's change wakes the rules before
// `optimization_interval`, and a burst of wake-ups costs at most one round
// per gap.

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "actors/optimizer/wake_limiter.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/resources.hpp"
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
