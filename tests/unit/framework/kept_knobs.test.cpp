// A knob's run-time value outlives its owner's instance: the supervisor that
// sent the set keeps the value the owner applied and gives it to the next
// instance (restarted after a crash, with its nested supervisor, or started
// again after an unload); a reload that changes the knob's config key drops
// it (tests/unit/umbrella/knob_restart.test.cpp has the reload with the
// built-in components).

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "framework/detail/kept_knobs.hpp"
#include "p21/knob.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/runtime.hpp"
#include "support/actor_support.hpp"
#include "support/wait.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

knob_spec workers_knob() {
  return {"myapp.workers", 1, 16, true, "workers", "worker threads", {"myapp.workers"}};
}

struct owner_state {
  double value = 0;
};

/// An application's actor with one knob, starting at 4 (its "config"); it
/// refuses 13 (an owner may refuse a value) and throws on `crash`.
caf::behavior owner(caf::stateful_actor<owner_state>* self) {
  self->state.value = 4;
  return {
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != workers_knob().name)
          return unknown_knob(name);
        return self->state.value;
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        if (name != workers_knob().name)
          return unknown_knob(name);
        auto applied = knob_target(workers_knob(), v);
        if (!applied)
          return applied.error();
        if (*applied == 13)
          return make_error(errc::invalid_argument, "13 workers: unlucky");
        return self->state.value = *applied;
      },
      [](crash_atom) -> int { throw std::runtime_error("crash requested by the test"); },
  };
}

child_spec owner_spec(const std::string& name, priority prio = priority::critical) {
  child_spec spec;
  spec.name = name;
  spec.prio = prio;
  spec.knobs = {workers_knob()};
  spec.start = [](caf::actor_system& sys) -> caf::expected<caf::actor> {
    return sys.spawn(owner);
  };
  return spec;
}

/// Waits until `handle` serves a new instance (not `before`).
template <class Handle>
bool new_instance(Handle& handle, const caf::actor& before) {
  return eventually([&] {
    auto now = handle.actor();
    return now && *now != before;
  });
}

} // namespace

TEST_CASE("kept_knobs keeps the latest accepted set and forgets what a reload changed") {
  p21::detail::kept_knobs kept;
  CHECK(kept.values().empty());
  auto t1 = kept.begin_set("myapp.workers");
  auto t2 = kept.begin_set("myapp.workers");
  // Replies that cross: only the latest set's counts.
  CHECK(kept.accepted("myapp.workers", t2, 8));
  CHECK_FALSE(kept.accepted("myapp.workers", t1, 3));
  REQUIRE(kept.values().size() == 1);
  CHECK(kept.values()[0].second == 8);
  // A refusal of an older set changes nothing; of the latest, drops it.
  kept.refused("myapp.workers", t1);
  CHECK(kept.values().size() == 1);
  auto t3 = kept.begin_set("myapp.workers");
  kept.refused("myapp.workers", t3);
  CHECK(kept.values().empty());
  auto t4 = kept.begin_set("myapp.workers");
  CHECK(kept.accepted("myapp.workers", t4, 9));
  // A reload of another key keeps it; of its own key, forgets it, and a
  // reply still on its way (sent before the reload) is not kept either.
  CHECK(kept.forget_reloaded({workers_knob()}, {"myapp.other"}).empty());
  CHECK(kept.values().size() == 1);
  auto t5 = kept.begin_set("myapp.workers");
  CHECK(kept.forget_reloaded({workers_knob()}, {"myapp.workers"}) ==
        std::vector<std::string>{"myapp.workers"});
  CHECK_FALSE(kept.accepted("myapp.workers", t5, 10));
  CHECK(kept.values().empty());
}

TEST_CASE("a knob set through the supervisor is set again on its owner's restart, two "
          "supervisors deep") {
  runtime rt{quiet_config(), no_subsystems};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto inner = app->spawn_supervisor("inner");
  REQUIRE(inner);
  auto pool = inner->spawn(owner_spec("pool"));
  REQUIRE(pool);
  CHECK(rt.knob("myapp.workers").value() == 4);
  CHECK(rt.set_knob("myapp.workers", 7).value() == 7);
  // A value the owner refuses is not kept: 7 stays the value to restore.
  CHECK_FALSE(rt.set_knob("myapp.workers", 13));
  auto first = pool->actor().value();
  CHECK_FALSE(pool->call<int>(crash_atom::value));
  REQUIRE(new_instance(*pool, first));
  // The new instance starts at 4; the supervisor set it to 7 before it
  // served anything else.
  CHECK(rt.knob("myapp.workers").value() == 7);
  CHECK(pool->call<double>(get_knob_atom::value, std::string{"myapp.workers"}).value() == 7);
  // Crashed again, twice: still 7.
  for (int round = 0; round < 2; ++round) {
    auto before = pool->actor().value();
    CHECK_FALSE(pool->call<int>(crash_atom::value));
    REQUIRE(new_instance(*pool, before));
    CHECK(rt.knob("myapp.workers").value() == 7);
  }
  // The value set last wins: 9, and 9 after a restart.
  CHECK(rt.set_knob("myapp.workers", 9).value() == 9);
  auto before = pool->actor().value();
  CHECK_FALSE(pool->call<int>(crash_atom::value));
  REQUIRE(new_instance(*pool, before));
  CHECK(rt.knob("myapp.workers").value() == 9);
  CHECK(rt.healthy(5s));
  CHECK(!rt.stop());
}

TEST_CASE("a nested supervisor restarted with its children gives them their knobs' values") {
  runtime rt{quiet_config(), no_subsystems};
  supervisor_config strict;
  strict.max_restarts = 1; // the second restart within the period gives up
  strict.period = std::chrono::minutes{1};
  strict.backoff_initial = std::chrono::milliseconds{1};
  strict.backoff_max = std::chrono::milliseconds{2};
  auto app = rt.spawn_supervisor("app", strict, restart::permanent);
  REQUIRE(app);
  auto pool = app->spawn(owner_spec("pool"));
  REQUIRE(pool);
  CHECK(rt.set_knob("myapp.workers", 11).value() == 11);
  // The first crash is app's business; the second makes app give up, and
  // the node's supervisor restarts app with the pool under it: a new
  // supervisor instance, which knows nothing of the old one's messages.
  for (int round = 0; round < 2; ++round) {
    auto before = pool->actor().value();
    CHECK_FALSE(pool->call<int>(crash_atom::value));
    REQUIRE(new_instance(*pool, before));
  }
  REQUIRE(eventually([&] { return rt.component("app")->restarts == 1; }));
  CHECK(app->give_ups() == 1);
  REQUIRE(eventually([&] { return static_cast<bool>(pool->actor()); }));
  CHECK(rt.knob("myapp.workers").value() == 11);
  CHECK(!rt.stop());
}

TEST_CASE("a lazy component unloaded and started again gets its knob's run-time value") {
  runtime rt{quiet_config(), no_subsystems};
  REQUIRE_FALSE(rt.add_component(owner_spec("lazy", priority::normal)));
  auto first = rt.actor_of("lazy");
  REQUIRE(first);
  CHECK(rt.set_knob("myapp.workers", 6).value() == 6);
  REQUIRE(rt.unload("lazy").value());
  REQUIRE(eventually([&] { return !rt.component("lazy")->running; }));
  auto again = rt.actor_of("lazy");
  REQUIRE(again);
  CHECK(*again != *first);
  CHECK(rt.knob("myapp.workers").value() == 6);
  CHECK(!rt.stop());
}
