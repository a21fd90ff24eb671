#include <catch2/catch.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/runtime.hpp"
#include "support/actor_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;
using decision = supervision_policy::decision;

namespace {

supervision_policy make_policy(strategy s, size_t max_restarts = 10) {
  return supervision_policy{s, max_restarts, 10s, 10ms, 1s, 42};
}

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

} // namespace

// -- the policy, as plain logic ---------------------------------------------------

TEST_CASE("one_for_one restarts only the child that exited") {
  auto p = make_policy(strategy::one_for_one);
  auto d = p.on_exit(1, restart::permanent, true, {true, false, true}, t0);
  CHECK(d.kind == decision::restart);
  CHECK(d.stop.empty());
  CHECK(d.start == std::vector<size_t>{1});
}

TEST_CASE("one_for_all stops the running siblings in reverse order and restarts all") {
  auto p = make_policy(strategy::one_for_all);
  auto d = p.on_exit(1, restart::permanent, true, {true, false, true, true}, t0);
  CHECK(d.kind == decision::restart);
  CHECK(d.stop == std::vector<size_t>{3, 2, 0});
  CHECK(d.start == std::vector<size_t>{0, 1, 2, 3});
}

TEST_CASE("rest_for_one restarts the child and those started after it") {
  auto p = make_policy(strategy::rest_for_one);
  auto d = p.on_exit(1, restart::permanent, true, {true, false, true, true}, t0);
  CHECK(d.kind == decision::restart);
  CHECK(d.stop == std::vector<size_t>{3, 2});
  CHECK(d.start == std::vector<size_t>{1, 2, 3});
}

TEST_CASE("restart policies: transient only after abnormal exits, temporary never") {
  auto p = make_policy(strategy::one_for_one);
  CHECK(p.on_exit(0, restart::transient, false, {false}, t0).kind == decision::ignore);
  CHECK(p.on_exit(0, restart::transient, true, {false}, t0).kind == decision::restart);
  CHECK(p.on_exit(0, restart::temporary, true, {false}, t0).kind == decision::ignore);
  CHECK(p.on_exit(0, restart::permanent, false, {false}, t0).kind == decision::restart);
}

TEST_CASE("more than max_restarts within period escalates and older restarts age out") {
  auto p = make_policy(strategy::one_for_one, 2);
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0).kind == decision::restart);
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + 1s).kind == decision::restart);
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + 2s).kind == decision::escalate);
  // 10s after the first two, they no longer count.
  auto q = make_policy(strategy::one_for_one, 2);
  q.on_exit(0, restart::permanent, true, {false}, t0);
  q.on_exit(0, restart::permanent, true, {false}, t0 + 1s);
  CHECK(q.on_exit(0, restart::permanent, true, {false}, t0 + 12s).kind == decision::restart);
}

TEST_CASE("an exit another node caused is restarted without counting toward the intensity") {
  auto p = make_policy(strategy::one_for_one, 2);
  for (int i = 0; i < 10; ++i)
    CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + i * 1ms, false).kind ==
          decision::restart);
  // The child's own crashes still count, as many as before.
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + 1s).kind == decision::restart);
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + 1s).kind == decision::restart);
  CHECK(p.on_exit(0, restart::permanent, true, {false}, t0 + 1s).kind == decision::escalate);
}

TEST_CASE("backoff doubles up to its maximum, with jitter in the upper half") {
  supervision_policy p{strategy::one_for_one, 100, 1h, 10ms, 80ms, 7};
  std::vector<timespan> bases = {10ms, 20ms, 40ms, 80ms, 80ms, 80ms};
  for (size_t i = 0; i < bases.size(); ++i) {
    auto d = p.on_exit(0, restart::permanent, true, {false}, t0 + i * 1ms);
    INFO("restart " << i);
    CHECK(d.delay >= bases[i] / 2);
    CHECK(d.delay <= bases[i]);
  }
}

// -- the supervisor actor ---------------------------------------------------------

TEST_CASE("a crashing child is restarted and serves again") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems};
  REQUIRE(rt.spawn_supervised(logged_child("w", log)));
  CHECK(rt.call<int>("w", ping_atom::value, 0).value() == 1);
  auto crashed = rt.call<int>("w", crash_atom::value);
  CHECK_FALSE(crashed);
  REQUIRE(log.await("start:w", 2));
  // The slot may briefly still point at the dead instance; retry until the
  // new generation answers, bounded.
  CHECK(eventually([&] {
    auto gen = rt.call<int>("w", ping_atom::value, 0);
    return gen && *gen == 2;
  }));
  CHECK(rt.component("w")->restarts == 1);
}

namespace {

/// Starts a, b, c under `s`, crashes b and waits until `expected` restarts
/// happened; returns the log.
void crash_middle_child(strategy s, event_log& log, std::map<std::string, size_t> expected) {
  auto cfg = quiet_config();
  cfg.supervisor.restart_strategy = s;
  runtime rt{cfg, no_subsystems,
             {logged_child("a", log), logged_child("b", log, priority::critical, {"a"}),
              logged_child("c", log, priority::critical, {"b"})}};
  REQUIRE(log.count("start:a") == 1);
  REQUIRE(log.count("start:c") == 1);
  CHECK_FALSE(rt.call<int>("b", crash_atom::value));
  for (auto& [name, n] : expected)
    REQUIRE(log.await("start:" + name, n));
  CHECK(!rt.stop());
}

} // namespace

TEST_CASE("one_for_one restarts only the crashed child") {
  event_log log;
  crash_middle_child(strategy::one_for_one, log, {{"b", 2}});
  CHECK(log.count("start:a") == 1);
  CHECK(log.count("start:b") == 2);
  CHECK(log.count("start:c") == 1);
}

TEST_CASE("one_for_all restarts every child, in start order") {
  event_log log;
  crash_middle_child(strategy::one_for_all, log, {{"a", 2}, {"b", 2}, {"c", 2}});
  auto order = log.order();
  REQUIRE(order.size() == 6);
  CHECK(std::vector<std::string>(order.begin() + 3, order.end()) ==
        std::vector<std::string>{"start:a", "start:b", "start:c"});
}

TEST_CASE("rest_for_one restarts the crashed child and those after it") {
  event_log log;
  crash_middle_child(strategy::rest_for_one, log, {{"b", 2}, {"c", 2}});
  CHECK(log.count("start:a") == 1);
  auto order = log.order();
  REQUIRE(order.size() == 5);
  CHECK(order[3] == "start:b");
  CHECK(order[4] == "start:c");
}

TEST_CASE("exceeding the restart intensity escalates and the runtime stops cleanly") {
  event_log log;
  auto cfg = quiet_config();
  cfg.supervisor.max_restarts = 1;
  cfg.supervisor.period = 1min;
  runtime rt{cfg, no_subsystems, {logged_child("w", log)}};
  CHECK_FALSE(rt.call<int>("w", crash_atom::value));
  REQUIRE(log.await("start:w", 2));
  // Crash the second generation: the second restart within the period.
  CHECK(eventually([&] {
    auto r = rt.call<int>("w", crash_atom::value);
    return !r && r.error() == caf::sec::runtime_error;
  }));
  REQUIRE(rt.wait_for(10s));
  auto reason = rt.wait();
  CHECK(is(reason, errc::escalated));
  CHECK_THAT(render(reason), Catch::Contains("'w' exceeded its restart intensity"));
  CHECK(log.count("start:w") == 2);
  CHECK(is(rt.stop(), errc::escalated));
  CHECK(is(rt.actor_of("w").error(), errc::unavailable));
}

TEST_CASE("a child ended by a lost link to another node (remote_link_unreachable) is restarted "
          "and never escalates, while its own crashes still do") {
  event_log log;
  auto cfg = quiet_config();
  cfg.supervisor.max_restarts = 1;
  cfg.supervisor.period = 1min;
  runtime rt{cfg, no_subsystems, {logged_child("w", log)}};
  for (size_t n = 2; n <= 4; ++n) {
    caf::anon_send_exit(rt.actor_of("w").value(), caf::exit_reason::remote_link_unreachable);
    REQUIRE(log.await("start:w", n));
    REQUIRE(eventually([&] { return static_cast<bool>(rt.call<int>("w", ping_atom::value, 0)); }));
  }
  CHECK_FALSE(rt.wait_for(0s));
  CHECK(rt.healthy(10s));
  // Two crashes of its own within the period: the intensity of 1 is exceeded.
  CHECK_FALSE(rt.call<int>("w", crash_atom::value));
  REQUIRE(log.await("start:w", 5));
  CHECK(eventually([&] {
    auto r = rt.call<int>("w", crash_atom::value);
    return !r && r.error() == caf::sec::runtime_error;
  }));
  REQUIRE(rt.wait_for(10s));
  CHECK(is(rt.wait(), errc::escalated));
}

TEST_CASE("a request to a child that is down gets unavailable, not silence") {
  SECTION("a temporary child that crashed is not restarted") {
    event_log log;
    runtime rt{quiet_config(), no_subsystems, {logged_child("t", log, priority::critical, {}, restart::temporary)}};
    CHECK_FALSE(rt.call<int>("t", crash_atom::value));
    auto r = rt.call_for<int>("t", 5s, ping_atom::value, 0);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::unavailable));
    CHECK(log.count("start:t") == 1);
  }
  SECTION("a child waiting out a long restart backoff") {
    event_log log;
    auto cfg = quiet_config();
    cfg.supervisor.backoff_initial = 1h;
    cfg.supervisor.backoff_max = 1h;
    cfg.runtime.shutdown_timeout = 1s;
    runtime rt{cfg, no_subsystems, {logged_child("w", log)}};
    CHECK_FALSE(rt.call<int>("w", crash_atom::value));
    // Within the 5s request timeout the answer is unavailable (a timeout
    // would mean the caller waited for nothing).
    auto r = rt.call_for<int>("w", 5s, ping_atom::value, 0);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::unavailable));
  }
}

TEST_CASE("a transient child that finishes normally stays down") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems, {logged_child("t", log, priority::critical, {}, restart::transient)}};
  auto h = rt.actor_of("t");
  REQUIRE(h);
  caf::anon_send(*h, finish_atom::value);
  // Once it is gone, calls fail fast with unavailable and no restart happens.
  CHECK(eventually([&] {
    auto r = rt.call_for<int>("t", 5s, ping_atom::value, 0);
    return !r && is(r.error(), errc::unavailable);
  }));
  CHECK(!rt.stop());
  CHECK(log.count("start:t") == 1);
}

// -- nested supervisors -------------------------------------------------------------

TEST_CASE("a crash loop under a nested supervisor stops only its subtree, not the node") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems, {logged_child("node_child", log)}};
  supervisor_config opts;
  opts.max_restarts = 2;
  opts.period = 1min;
  opts.backoff_initial = 1ms;
  opts.backoff_max = 2ms;
  auto app = rt.spawn_supervisor("app", opts); // temporary: the default
  REQUIRE(app);
  auto loop = app->spawn(logged_child("looping", log));
  auto calm = app->spawn(logged_child("calm", log));
  REQUIRE(loop);
  REQUIRE(calm);
  CHECK(calm->call<int>(ping_atom::value, 0).value() == 1);
  // Crash `looping` until its supervisor gives up (the third restart
  // within the period exceeds an intensity of 2).
  REQUIRE(eventually([&] {
    static_cast<void>(loop->call<int>(crash_atom::value));
    return app->given_up();
  }));
  CHECK_THAT(app->reason(), Catch::Contains("supervisor 'app' gave up") &&
                                Catch::Contains("'looping' exceeded its restart intensity"));
  CHECK(log.count("start:looping") == 3);
  // Its children are stopped and say so.
  REQUIRE(eventually([&] {
    auto kids = app->children();
    return std::none_of(kids.begin(), kids.end(), [](auto& k) { return k.running; });
  }));
  auto r = calm->call<int>(ping_atom::value, 0);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::unavailable));
  CHECK(log.count("start:calm") == 1); // not restarted along with it
  // The node goes on: not stopping, healthy, its own child serves.
  CHECK_FALSE(rt.wait_for(200ms));
  CHECK(rt.healthy(5s));
  CHECK(rt.call<int>("node_child", ping_atom::value, 0).value() == 1);
  CHECK(eventually([&] { return !rt.component("app")->running; }));
  CHECK(is(app->spawn(logged_child("late", log)).error(), errc::unavailable));
  CHECK(!rt.stop());
}

TEST_CASE("a handle taken before a restart reaches the new instance after it") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto w = app->spawn(logged_child("w", log));
  REQUIRE(w);
  auto same = app->child("w"); // another handle, by name
  CHECK(w->call<int>(ping_atom::value, 0).value() == 1);
  CHECK_FALSE(w->call<int>(crash_atom::value));
  REQUIRE(log.await("start:w", 2));
  CHECK(eventually([&] {
    auto gen = w->call<int>(ping_atom::value, 0);
    return gen && *gen == 2;
  }));
  CHECK(same.call<int>(ping_atom::value, 0).value() == 2);
  CHECK(app->children().at(0).restarts == 1);
  CHECK(is(app->child("nobody").actor().error(), errc::not_found));
  // Node-level components have the same kind of handle.
  REQUIRE(rt.spawn_supervised(logged_child("top", log)));
  auto top = rt.child("top");
  CHECK_FALSE(top.call<int>(crash_atom::value));
  CHECK(eventually([&] {
    auto gen = top.call<int>(ping_atom::value, 0);
    return gen && *gen == 2;
  }));
}

TEST_CASE("a nested supervisor applies its own strategy to its children") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems};
  supervisor_config opts;
  opts.restart_strategy = strategy::one_for_all;
  opts.backoff_initial = 1ms;
  opts.backoff_max = 2ms;
  auto app = rt.spawn_supervisor("app", opts);
  REQUIRE(app);
  auto a = app->spawn(logged_child("a", log));
  auto b = app->spawn(logged_child("b", log));
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(b->call<int>(crash_atom::value));
  REQUIRE(log.await("start:a", 2));
  REQUIRE(log.await("start:b", 2));
  CHECK(rt.component("app")->restarts == 0); // the node's supervisor saw nothing
  CHECK(is(rt.spawn_supervisor("app", {}).error(), errc::invalid_argument));
}

namespace {

supervisor_config strict_supervisor() {
  supervisor_config opts;
  opts.max_restarts = 1; // the second restart within the period gives up
  opts.period = 1min;
  opts.backoff_initial = 1ms;
  opts.backoff_max = 2ms;
  return opts;
}

/// Waits until generation `n` of the child behind `h` answers, then crashes
/// it.
void crash_generation(event_log& log, const child_handle& h, int n) {
  REQUIRE(log.await("start:" + h.name(), static_cast<size_t>(n)));
  REQUIRE(eventually([&] {
    auto gen = h.call<int>(ping_atom::value, 0);
    return gen && *gen == n;
  }));
  CHECK_FALSE(h.call<int>(crash_atom::value));
}

} // namespace

TEST_CASE("a crash loop escalates one level per give-up through a three-level tree, leaves "
          "siblings untouched and keeps handles working") {
  event_log log;
  auto cfg = quiet_config();
  cfg.supervisor.max_restarts = 10;
  cfg.supervisor.period = 1min;
  runtime rt{cfg, no_subsystems, {logged_child("node_child", log)}};
  // node -> app -> inner -> leaf; app also holds `sibling`, and `other` is
  // a subtree of the node beside app.
  auto app = rt.spawn_supervisor("app", strict_supervisor(), restart::permanent);
  REQUIRE(app);
  auto inner = app->spawn_supervisor("inner", strict_supervisor()); // permanent: the default
  REQUIRE(inner);
  auto sibling = app->spawn(logged_child("sibling", log));
  auto leaf = inner->spawn(logged_child("leaf", log));
  auto other = rt.spawn_supervisor("other", strict_supervisor(), restart::permanent);
  REQUIRE(other);
  auto bystander = other->spawn(logged_child("bystander", log));
  REQUIRE(sibling);
  REQUIRE(leaf);
  REQUIRE(bystander);
  auto same_leaf = inner->child("leaf"); // by name, taken before any restart
  // The leaf's first crash is inner's business: a restart, nothing more.
  crash_generation(log, *leaf, 1);
  // Its second exceeds inner's intensity: inner gives up and app restarts
  // it (and the leaf under it); app and the node see nothing else.
  crash_generation(log, *leaf, 2);
  REQUIRE(eventually([&] {
    auto gen = leaf->call<int>(ping_atom::value, 0);
    return gen && *gen == 3;
  }));
  CHECK(inner->give_ups() == 1);
  CHECK_THAT(inner->reason(), Catch::Contains("supervisor 'inner' gave up") &&
                                  Catch::Contains("'leaf' exceeded its restart intensity"));
  CHECK_FALSE(inner->given_up()); // restarted by app
  CHECK(app->give_ups() == 0);
  CHECK(rt.component("app")->restarts == 0);
  CHECK(log.count("start:sibling") == 1);
  // Two more crashes: inner gives up again, which exceeds app's intensity:
  // app gives up and the node's supervisor restarts the whole app subtree.
  crash_generation(log, *leaf, 3);
  crash_generation(log, *leaf, 4);
  REQUIRE(eventually([&] {
    auto gen = leaf->call<int>(ping_atom::value, 0);
    return gen && *gen == 5;
  }));
  CHECK(inner->give_ups() == 2);
  CHECK(app->give_ups() == 1);
  CHECK_THAT(app->reason(), Catch::Contains("supervisor 'app' gave up") &&
                                Catch::Contains("'inner' exceeded its restart intensity"));
  REQUIRE(eventually([&] { return rt.component("app")->restarts == 1; }));
  REQUIRE(log.await("start:sibling", 2)); // restarted with its subtree
  CHECK(eventually([&] {
    auto gen = sibling->call<int>(ping_atom::value, 0);
    return gen && *gen == 2;
  }));
  CHECK(log.count("start:sibling") == 2);
  // Beside app nothing moved, and the node is healthy.
  CHECK(log.count("start:bystander") == 1);
  CHECK(log.count("start:node_child") == 1);
  CHECK(other->give_ups() == 0);
  CHECK(rt.component("other")->restarts == 0);
  CHECK_FALSE(rt.wait_for(100ms));
  CHECK(eventually([&] { return rt.healthy(5s); }));
  // Handles taken before the restarts reach the new instances.
  CHECK(same_leaf.call<int>(ping_atom::value, 0).value() == 5);
  // The restarted subtree takes new children.
  auto late = inner->spawn(logged_child("late", log));
  REQUIRE(late);
  CHECK(late->call<int>(ping_atom::value, 0).value() == 1);
  CHECK(!rt.stop());
}

TEST_CASE("a permanent subtree that keeps giving up exceeds the node's intensity and the node "
          "stops") {
  event_log log;
  auto cfg = quiet_config();
  cfg.supervisor.max_restarts = 1;
  cfg.supervisor.period = 1min;
  runtime rt{cfg, no_subsystems};
  auto app = rt.spawn_supervisor("app", strict_supervisor(), restart::permanent);
  REQUIRE(app);
  auto leaf = app->spawn(logged_child("leaf", log));
  REQUIRE(leaf);
  crash_generation(log, *leaf, 1);
  crash_generation(log, *leaf, 2); // app gives up; the node restarts it
  crash_generation(log, *leaf, 3);
  CHECK_FALSE(rt.wait_for(100ms)); // the node still runs after one give-up
  crash_generation(log, *leaf, 4); // app gives up again: the node's second
  REQUIRE(rt.wait_for(10s));
  auto reason = rt.wait();
  CHECK(is(reason, errc::escalated));
  CHECK_THAT(render(reason), Catch::Contains("'app' exceeded its restart intensity"));
  CHECK(app->give_ups() == 2);
  CHECK(log.count("start:leaf") == 4);
}

TEST_CASE("a nested supervisor answers the monitor's metrics request with an empty set, not an "
          "unexpected message") {
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto handle = rt.actor_of("app");
  REQUIRE(handle);
  auto m = rt.request<metric_set>(*handle, 5s, metrics_atom::value);
  REQUIRE(m);
  CHECK(m->counters.empty());
  CHECK(m->histograms.empty());
  CHECK(!rt.stop());
}
