// examples/worker_pool: an application's actor with a knob, declared in its
// child_spec like the built-in pools, tuned through the supervisor.

#include <catch2/catch.hpp>

#include <algorithm>

#include "examples/worker_pool/worker_pool.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/rule.hpp"
#include "p21/subsystems.hpp"
#include "p21/db_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

/// Jobs that have left the pool's queue so far (its queue-wait samples).
uint64_t queue_waits(runtime& rt) {
  uint64_t count = 0;
  for (auto& h : rt.metrics().collect().histograms)
    if (myapp::queue_wait.names(h.name))
      count += h.count;
  return count;
}

/// The worker pool with `workers` workers under "app" and "jobs", two
/// supervisors below the node's.
caf::actor deep_pool(runtime& rt, double workers) {
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto inner = app->spawn_supervisor("jobs");
  REQUIRE(inner);
  auto pool = inner->spawn(myapp::worker_pool_spec(rt, "worker_pool", workers));
  REQUIRE(pool);
  auto target = pool->actor();
  REQUIRE(target);
  return *target;
}

/// A node from a config file's text, quiet, on an in-memory database.
config quiet_node(config cfg) {
  cfg.logging = test_config().logging;
  cfg.get<database_config>().path = ":memory:";
  return cfg;
}

} // namespace

TEST_CASE("raising myapp.workers starts a queued job at once and records its queue wait") {
  runtime rt{test_config()};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto inner = app->spawn_supervisor("jobs");
  REQUIRE(inner);
  auto pool = inner->spawn(myapp::worker_pool_spec(rt, "worker_pool", 1));
  REQUIRE(pool);
  CHECK(rt.knob("myapp.workers").value() == 1);
  auto target = pool->actor();
  REQUIRE(target);
  std::optional<caf::timespan> waited;
  {
    caf::scoped_actor self{rt.system()};
    // One worker, busy for a minute; the next job waits in the queue.
    self->send(*target, myapp::job_atom::value, caf::timespan{60s});
    auto queued = self->request(*target, 20s, myapp::job_atom::value, caf::timespan{1ms});
    // A second worker takes it: its reply comes long before the first
    // job's minute is over (or the 20 s bound fails the test).
    CHECK(rt.set_knob("myapp.workers", 2).value() == 2);
    queued.receive([&](caf::timespan w) { waited = w; },
                   [&](caf::error& e) { FAIL(render(e)); });
  }
  release_thread();
  REQUIRE(waited);
  CHECK(*waited < 20s);
  CHECK(rt.set_knob("myapp.workers", 1000).value() == myapp::workers_knob().max);
  // Both jobs' waits are in the histogram the node exports.
  CHECK(queue_waits(rt) == 2);
  CHECK(!rt.stop());
}

namespace {

/// The reply the owner of a knob gave to `rule`'s action, once the
/// optimizer's log has it (empty if it never does).
std::string owner_reply(runtime& rt, const optimizer_actor& opt, const std::string& rule) {
  std::string reply;
  CHECK(eventually([&] {
    auto log =
        rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0})
            .value();
    for (auto& a : log)
      if (a.rule == rule && a.reply != "sent")
        reply = a.reply;
    return !reply.empty();
  }));
  return reply;
}

/// Adds a worker while jobs have been waiting: reads the pool's own
/// histogram (an application metric) and sets the pool's own knob.
struct more_workers_rule : tuning_rule {
  more_workers_rule()
    : tuning_rule("more_workers", settings()) {}
  static rule_config settings() {
    rule_config rc;
    rc.threshold = 0.5; // fires once one job has started
    rc.clear_threshold = 0;
    rc.for_duration = 0s;
    rc.cooldown = 0s;
    return rc;
  }
  std::optional<double> measure(const rule_view& v) override {
    auto h = v.histogram(myapp::queue_wait.name);
    return h ? std::optional<double>{double(h->count)} : std::nullopt;
  }
  std::vector<knob_action> act(const rule_view&, double) override {
    return {{"myapp.workers", 2, "jobs queue behind one worker"}};
  }
};

} // namespace

TEST_CASE("an application's C++ rule reads its actor's metric and sets its knob two supervisors "
          "deep, and the queued job starts") {
  auto cfg = test_config();
  cfg.performance.auto_optimization = true;
  cfg.performance.optimization_interval = std::chrono::hours{1}; // only on demand
  cfg.get<optimizer_config>().custom_rules.push_back(std::make_shared<more_workers_rule>());
  runtime rt{cfg};
  auto target = deep_pool(rt, 1);
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  std::optional<caf::timespan> waited;
  {
    caf::scoped_actor self{rt.system()};
    // The only worker is busy for a minute (its start is the histogram's
    // first observation); the next job queues behind it.
    self->send(target, myapp::job_atom::value, caf::timespan{60s});
    auto queued = self->request(target, 20s, myapp::job_atom::value, caf::timespan{1ms});
    REQUIRE(eventually([&] { return queue_waits(rt) >= 1; }));
    auto acted =
        rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
    auto mine =
        std::find_if(acted.begin(), acted.end(), [](auto& a) { return a.rule == "more_workers"; });
    REQUIRE(mine != acted.end());
    CHECK(mine->target == "myapp.workers");
    // The owner's second worker takes the queued job long before the
    // first job's minute is over (or the 20 s bound fails the test).
    queued.receive([&](caf::timespan w) { waited = w; },
                   [&](caf::error& e) { FAIL(render(e)); });
  }
  release_thread();
  REQUIRE(waited);
  CHECK(rt.knob("myapp.workers").value() == 2);
  // The owner's reply is in the optimizer's action log.
  auto reply = owner_reply(rt, opt, "more_workers");
  INFO("reply: " << reply);
  CHECK(reply.rfind("ok: 2", 0) == 0);
  CHECK(!rt.stop());
}

TEST_CASE("a custom actor's knob is tuned by a rule declared in TOML: Little's law from its "
          "own metrics, through two supervisors") {
  // The rule as a user writes it; the test only makes it act at once.
  auto cfg = load_config_string(R"(
[performance]
auto_optimization = true
optimization_interval = "1h"

[optimizer.rules.queue_wait]
sensor = 'myapp_queue_wait_seconds{quantile="0.95"}'
above = "50ms"
for = "0s"
cooldown = "0s"
knob = "myapp.workers"
model = "littles_law"
arrivals = 'rate(myapp_jobs_total)'
service = 'mean(myapp_job_seconds)'
utilization = 0.5
step = "+1"
)");
  runtime rt{quiet_node(cfg)};
  auto target = deep_pool(rt, 1);
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto evaluate = [&] {
    auto acted =
        rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
    auto mine =
        std::find_if(acted.begin(), acted.end(), [](auto& a) { return a.rule == "queue_wait"; });
    return mine == acted.end() ? std::optional<optimizer_action>{} : *mine;
  };
  CHECK_FALSE(evaluate()); // the first evaluation: no interval to measure rates over
  {
    caf::scoped_actor self{rt.system()};
    // Eight 200 ms jobs at once on one worker: they queue (p95 wait well
    // above 50 ms), 8 arrivals of 0.2 s each.
    for (int i = 0; i < 8; ++i)
      self->send(target, myapp::job_atom::value, caf::timespan{200ms});
    REQUIRE(eventually([&] { return queue_waits(rt) >= 3; }));
  }
  release_thread();
  auto action = evaluate();
  REQUIRE(action);
  CHECK(action->target == "myapp.workers");
  INFO("action: " << action->action);
  // Little's law: arrivals x 0.2 s / 0.5 is more than the one worker.
  double workers = 0;
  CHECK(eventually([&] {
    workers = rt.knob("myapp.workers").value();
    return workers > 1;
  }));
  // The owner's reply is in the action log.
  auto reply = owner_reply(rt, opt, "queue_wait");
  INFO("reply: " << reply);
  CHECK(reply.rfind("ok: ", 0) == 0);
  CHECK(std::stod(reply.substr(4)) == workers);
  CHECK(!rt.stop());
}

TEST_CASE("a rule declared by a reload acts on the running node, and a reload without it "
          "removes it") {
  auto base = R"(
[performance]
auto_optimization = true
optimization_interval = "1h"
)";
  auto with_rule = std::string{base} + R"(
[optimizer.rules.busy_pool]
sensor = 'myapp_queue_wait_seconds{quantile="0.5"}'
above = "1ms"
knob = "myapp.workers"
step = "+3"
)";
  runtime rt{quiet_node(load_config_string(base))};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto pool = app->spawn(myapp::worker_pool_spec(rt, "worker_pool", 1));
  REQUIRE(pool);
  auto target = pool->actor();
  REQUIRE(target);
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto acted_on_workers = [&] {
    auto acted =
        rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
    return std::any_of(acted.begin(), acted.end(),
                       [](auto& a) { return a.rule == "busy_pool"; });
  };
  // Jobs queue behind the one worker: the median wait of those that start
  // is far above 1 ms. The rule reads the wait over an interval, so each
  // evaluation below follows new jobs.
  uint64_t started = 0;
  auto queue_jobs = [&] {
    caf::scoped_actor self{rt.system()};
    for (int i = 0; i < 4; ++i)
      self->send(*target, myapp::job_atom::value, caf::timespan{50ms});
    started += 4; // all of them: three of four waited 50 ms or more
    REQUIRE(eventually([&] { return queue_waits(rt) >= started; }));
  };
  // Whether the optimizer has the rule: set_rule answers false for one it
  // does not know (these settings only turn its cooldown off).
  auto has_rule = [&] {
    rule_settings rs;
    rs.name = "busy_pool";
    rs.threshold = rs.clear_threshold = 0.001;
    return rt.request<bool>(opt, 10s, set_rule_atom::value, rs).value();
  };
  CHECK_FALSE(has_rule());
  CHECK_FALSE(acted_on_workers()); // no such rule yet
  auto added = rt.reload(quiet_node(load_config_string(with_rule)));
  INFO("reload: " << added.describe());
  CHECK(added.restart_needed.empty());
  CHECK(added.failed.empty());
  queue_jobs();
  CHECK(acted_on_workers());
  CHECK(eventually([&] { return rt.knob("myapp.workers").value() == 4; }));
  REQUIRE(has_rule());
  rt.set_knob("myapp.workers", 1).value(); // back to one worker: the jobs queue again
  queue_jobs();
  CHECK(acted_on_workers()); // again: no cooldown now, and the knob's new value to step from
  CHECK(eventually([&] { return rt.knob("myapp.workers").value() == 4; }));
  auto removed = rt.reload(quiet_node(load_config_string(base)));
  CHECK(removed.restart_needed.empty());
  CHECK_FALSE(has_rule());
  rt.set_knob("myapp.workers", 1).value();
  queue_jobs();
  CHECK_FALSE(acted_on_workers());
  CHECK(rt.knob("myapp.workers").value() == 1);
  CHECK(!rt.stop());
}
