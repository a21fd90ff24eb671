// Knobs routed by the supervisor (p21/knob.hpp): a get or set sent to any
// supervisor above the owner reaches the owner, whose reply to a get goes
// straight back to the sender (a set's comes through the supervisor that
// keeps its value); what cannot be routed is answered with an error.

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "p21/knob.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/runtime.hpp"
#include "support/actor_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

knob_spec workers_knob() {
  return {"myapp.workers", 1, 16, true, "workers", "worker threads"};
}

struct knob_owner_state {
  double value = 0;
};

/// An application's actor with one knob: it holds the value and answers
/// both knob messages from it; throws on `crash`.
caf::behavior knob_owner(caf::stateful_actor<knob_owner_state>* self, knob_spec spec,
                         double initial) {
  self->state.value = initial;
  return {
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != spec.name)
          return unknown_knob(name);
        return self->state.value;
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        if (name != spec.name)
          return unknown_knob(name);
        auto applied = knob_target(spec, v);
        if (!applied)
          return applied.error();
        return self->state.value = *applied;
      },
      [](crash_atom) -> int { throw std::runtime_error("crash requested by the test"); },
  };
}

child_spec owner_spec(const std::string& name, restart policy = restart::permanent,
                      priority prio = priority::critical) {
  child_spec spec;
  spec.name = name;
  spec.policy = policy;
  spec.prio = prio;
  spec.knobs = {workers_knob()};
  spec.start = [](caf::actor_system& sys) -> caf::expected<caf::actor> {
    return sys.spawn(knob_owner, workers_knob(), 4.0);
  };
  return spec;
}

} // namespace

TEST_CASE("knob_target clamps into the bounds, rounds a count and refuses NaN") {
  auto k = workers_knob();
  CHECK(knob_target(k, 100).value() == 16);
  CHECK(knob_target(k, -3).value() == 1);
  CHECK(knob_target(k, 3.6).value() == 4);
  CHECK(knob_target(k, std::numeric_limits<double>::infinity()).value() == 16);
  CHECK(is(knob_target(k, std::nan("")).error(), errc::invalid_argument));
  knob_spec real{"monitor.interval", 0.1, 3600, false, "seconds"};
  CHECK(knob_target(real, 0.25).value() == 0.25);
  CHECK(knob_target(real, 0.01).value() == 0.1);
  CHECK(find_knob({k, real}, "monitor.interval") != nullptr);
  CHECK(find_knob({k, real}, "nope") == nullptr);
}

TEST_CASE("a knob two supervisors deep is set and read through the root supervisor") {
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto inner = app->spawn_supervisor("inner");
  REQUIRE(inner);
  auto pool = inner->spawn(owner_spec("pool"));
  REQUIRE(pool);
  // Through the node's supervisor (three levels above the owner).
  CHECK(rt.knob("myapp.workers").value() == 4);
  CHECK(rt.set_knob("myapp.workers", 100).value() == 16); // clamped
  CHECK(rt.knob("myapp.workers").value() == 16);
  CHECK(rt.set_knob("myapp.workers", 2.6).value() == 3); // rounded
  CHECK(pool->call<double>(get_knob_atom::value, std::string{"myapp.workers"}).value() == 3);
  // Sent to the nested supervisor `app`, the set is forwarded to `inner`,
  // whose own child owns the knob: `inner` sets it with a request of its
  // own and answers once it has kept the value (docs/knobs.md), so the
  // reply comes from `inner`, not from `app` nor from the owner.
  auto app_actor = rt.actor_of("app");
  REQUIRE(app_actor);
  auto inner_actor = app->child("inner").actor();
  REQUIRE(inner_actor);
  caf::actor_addr replier;
  double got = 0;
  {
    caf::scoped_actor self{rt.system()};
    self->request(*app_actor, 5s, set_knob_atom::value, std::string{"myapp.workers"}, 7.0)
        .receive(
            [&](double v) {
              got = v;
              replier = caf::actor_cast<caf::actor_addr>(self->current_sender());
            },
            [&](caf::error& e) { FAIL(render(e)); });
  }
  release_thread();
  CHECK(got == 7);
  CHECK(replier == inner_actor->address());
  // Listed with the node's knobs and under the component that holds it.
  auto all = rt.knobs();
  REQUIRE(find_knob(all, "myapp.workers") != nullptr);
  CHECK(find_knob(all, "myapp.workers")->max == 16);
  auto stats = rt.component("app");
  REQUIRE(stats);
  CHECK(find_knob(stats->knobs, "myapp.workers") != nullptr);
  CHECK(!rt.stop());
}

TEST_CASE("a knob no component declares is answered with not_found") {
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  REQUIRE(app->spawn(owner_spec("pool")));
  auto r = rt.knob("myapp.nope");
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::not_found));
  auto s = rt.set_knob("myapp.nope", 1);
  REQUIRE_FALSE(s);
  CHECK(is(s.error(), errc::not_found));
  // Odd input leaves the supervisor intact: NaN is refused by the owner,
  // a message of the wrong shape is refused by the supervisor.
  auto nan = rt.set_knob("myapp.workers", std::nan(""));
  REQUIRE_FALSE(nan);
  CHECK(is(nan.error(), errc::invalid_argument));
  auto odd = rt.request<double>(*rt.actor_of("app"), 5s, get_knob_atom::value, 42);
  CHECK_FALSE(odd);
  CHECK(rt.healthy(5s));
  CHECK(rt.knob("myapp.workers").value() == 4);
  CHECK(!rt.stop());
}

TEST_CASE("a knob whose owner is down or not started is answered with unavailable") {
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto pool = app->spawn(owner_spec("pool", restart::temporary));
  REQUIRE(pool);
  CHECK(rt.set_knob("myapp.workers", 5).value() == 5);
  CHECK_FALSE(pool->call<int>(crash_atom::value)); // a temporary child stays down
  REQUIRE(eventually([&] { return !pool->actor(); }));
  auto r = rt.set_knob("myapp.workers", 6);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::unavailable));
  CHECK_THAT(render(r.error()), Catch::Contains("'pool' is down"));
  // A lazy component not used yet: its knob is known, its owner not
  // running.
  auto lazy = owner_spec("lazy", restart::permanent, priority::normal);
  lazy.knobs = {{"myapp.lazy_workers", 1, 8}};
  REQUIRE_FALSE(rt.add_component(lazy));
  auto l = rt.knob("myapp.lazy_workers");
  REQUIRE_FALSE(l);
  CHECK(is(l.error(), errc::unavailable));
  CHECK_THAT(render(l.error()), Catch::Contains("not started yet"));
  CHECK(!rt.stop());
}
