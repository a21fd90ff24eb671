// An application's own rule (p21/rule.hpp): its metric goes through the same
// gate as a built-in rule's, and its knob actions reach the supervisor.

#include <catch2/catch.hpp>

#include "actors/optimizer/engine.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/rule.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace p21::test::rules;
using namespace std::chrono_literals;

namespace {

/// Adds workers while the queue's wait (a gauge the application exports)
/// is above 50 ms.
struct queue_wait_rule : tuning_rule {
  queue_wait_rule(rule_config rc)
    : tuning_rule("queue_wait", rc) {}

  std::optional<double> measure(const rule_view& v) override {
    seen_rate = v.rate("myapp_jobs", {{"queue", "main"}});
    return v.metric("myapp_queue_wait_seconds", {{"queue", "main"}});
  }

  std::vector<knob_action> act(const rule_view&, double value) override {
    workers += 2;
    return {{"myapp.workers", double(workers), "wait " + std::to_string(value)}};
  }

  int workers = 4;
  std::optional<double> seen_rate;
};

rule_config gate_settings() {
  rule_config rc;
  rc.threshold = 0.050;
  rc.clear_threshold = 0.020;
  rc.for_duration = 10s;
  rc.cooldown = 30s;
  return rc;
}

/// A snapshot whose metrics carry the application's gauge and counter.
node_snapshot with_wait(steady::time_point t, double wait, double jobs) {
  auto s = base(t);
  auto m = std::make_shared<metric_set>();
  m->gauges.push_back({"myapp_queue_wait_seconds", {{"queue", "main"}}, wait});
  m->gauges.push_back({"myapp_queue_wait_seconds", {{"queue", "other"}}, 9.0});
  m->counters.push_back({"myapp_jobs", {{"queue", "main"}}, jobs});
  s.metrics = m;
  return s;
}

} // namespace

TEST_CASE("an application's rule fires through the engine with its gate and sets its knob") {
  auto cfg = quick_rules();
  auto mine = std::make_shared<queue_wait_rule>(gate_settings());
  cfg.get<optimizer_config>().custom_rules.push_back(mine);
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  // Above the threshold, but not yet for 10 s.
  CHECK(of_rule(e.evaluate(with_wait(t, 0.080, 100)), "queue_wait").empty());
  CHECK_FALSE(mine->seen_rate); // no previous evaluation yet
  auto ds = of_rule(e.evaluate(with_wait(t + 10s, 0.090, 600)), "queue_wait");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::set_knob);
  CHECK(ds[0].target == "myapp.workers");
  CHECK(ds[0].arg == 6);
  CHECK(ds[0].value == Approx(0.090)); // the matching series only
  CHECK(ds[0].describe() == "set knob myapp.workers to 6 (wait 0.090000)");
  REQUIRE(mine->seen_rate);
  CHECK(*mine->seen_rate == Approx(50)); // 500 jobs in 10 s
  CHECK(e.last_value(ds[0]) == Approx(0.090));
  // In its cooldown: nothing; after it, again.
  CHECK(of_rule(e.evaluate(with_wait(t + 20s, 0.090, 700)), "queue_wait").empty());
  ds = of_rule(e.evaluate(with_wait(t + 45s, 0.090, 800)), "queue_wait");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 8);
  // Between the thresholds it stays firing; below the clear threshold it
  // clears, and must hold `for` again before it acts.
  CHECK(of_rule(e.evaluate(with_wait(t + 80s, 0.010, 900)), "queue_wait").empty());
  CHECK(of_rule(e.evaluate(with_wait(t + 120s, 0.060, 900)), "queue_wait").empty());
  CHECK(of_rule(e.evaluate(with_wait(t + 131s, 0.060, 900)), "queue_wait").size() == 1);
  // Its settings change at run time like a built-in rule's.
  auto off = gate_settings();
  off.enabled = false;
  REQUIRE(e.set_rule("queue_wait", off));
  CHECK(of_rule(e.evaluate(with_wait(t + 300s, 0.500, 900)), "queue_wait").empty());
  // The built-in rules still ran alongside.
  CHECK(mine->workers == 10);
}

TEST_CASE("an application's rule without a value leaves its gate as it was") {
  auto cfg = quick_rules();
  auto rc = gate_settings();
  rc.for_duration = 0s;
  auto mine = std::make_shared<queue_wait_rule>(rc);
  cfg.get<optimizer_config>().custom_rules.push_back(mine);
  optimizer_engine e{cfg};
  auto t = steady::time_point{} + 1h;
  CHECK(of_rule(e.evaluate(base(t)), "queue_wait").empty()); // no metrics at all
  CHECK(of_rule(e.evaluate(with_wait(t + 1s, 0.060, 1)), "queue_wait").size() == 1);
}

TEST_CASE("an application's rule named as a built-in one, or twice, is refused") {
  auto cfg = quick_rules();
  cfg.get<optimizer_config>().custom_rules.push_back(
      std::make_shared<queue_wait_rule>(gate_settings()));
  auto clash = cfg;
  clash.get<optimizer_config>().custom_rules.push_back(
      std::make_shared<queue_wait_rule>(gate_settings()));
  CHECK_THROWS_WITH(optimizer_engine{clash}, Catch::Contains("'queue_wait' is named as another"));
  struct cpu : tuning_rule {
    cpu()
      : tuning_rule("cpu_usage", gate_settings()) {}
    std::optional<double> measure(const rule_view&) override { return 1.0; }
    std::vector<knob_action> act(const rule_view&, double) override { return {}; }
  };
  auto builtin = quick_rules();
  builtin.get<optimizer_config>().custom_rules.push_back(std::make_shared<cpu>());
  CHECK_THROWS_WITH(optimizer_engine{builtin}, Catch::Contains("'cpu_usage' is named as another"));
  auto null = quick_rules();
  null.get<optimizer_config>().custom_rules.push_back(nullptr);
  CHECK_THROWS_AS(optimizer_engine{null}, std::invalid_argument);
  CHECK_NOTHROW(optimizer_engine{cfg});
  // A node refuses such a config before it starts, with the reason.
  auto node = test_config();
  node.get<optimizer_config>().custom_rules.push_back(std::make_shared<cpu>());
  CHECK_THROWS_WITH(runtime{node}, Catch::Contains("'cpu_usage' is named as another rule"));
}

TEST_CASE("the optimizer sends an application's knob action to the supervisor and logs the "
          "reply") {
  struct always : tuning_rule {
    always()
      : tuning_rule("always_more", settings()) {}
    static rule_config settings() {
      rule_config rc;
      rc.threshold = 0;
      rc.clear_threshold = 0;
      rc.cooldown = 0s;
      return rc;
    }
    std::optional<double> measure(const rule_view& v) override { return v.cpu_percent() + 1; }
    std::vector<knob_action> act(const rule_view&, double) override {
      return {{"myapp.workers", 8, "test"}};
    }
  };
  auto cfg = test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1}; // only on demand
  cfg.performance.auto_optimization = true;
  cfg.get<optimizer_config>().custom_rules.push_back(std::make_shared<always>());
  runtime rt{cfg};
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  auto mine =
      std::find_if(acted.begin(), acted.end(), [](auto& a) { return a.rule == "always_more"; });
  REQUIRE(mine != acted.end());
  CHECK(mine->applied);
  CHECK(mine->target == "myapp.workers");
  CHECK_THAT(mine->action, Catch::StartsWith("set knob myapp.workers to 8"));
  // The supervisor answers: with the value the owner applied, or with an
  // error (no component declares this knob here); never silence.
  std::string reply;
  CHECK(eventually([&] {
    auto log = rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0})
                   .value();
    for (auto& a : log)
      if (a.rule == "always_more" && a.reply != "sent") {
        reply = a.reply;
        return true;
      }
    return false;
  }));
  CHECK((reply.rfind("ok: ", 0) == 0 || reply.rfind("error: ", 0) == 0));
  INFO("reply: " << reply);
}
