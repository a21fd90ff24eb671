#include <catch2/catch.hpp>

#include <dirent.h>
#include <future>

#include "p21/runtime.hpp"
#include "support/actor_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

/// An actor that traps exit messages and ignores them.
caf::behavior stubborn(caf::event_based_actor* self) {
  self->set_exit_handler([](caf::exit_msg&) {});
  return {[](ping_atom) {
    return 0;
  }};
}

/// Stops `rt` on another thread; fails the test if that takes longer than
/// `bound` (a hang check, not a speed claim).
caf::error stop_within(runtime& rt, std::chrono::seconds bound) {
  auto done = std::async(std::launch::async, [&] { return rt.stop(); });
  REQUIRE(done.wait_for(bound) == std::future_status::ready);
  return done.get();
}

} // namespace

TEST_CASE("start and stop 50 times in one process leaves no threads behind") {
  auto before = thread_count();
  for (int i = 0; i < 50; ++i) {
    event_log log;
    runtime rt{quiet_config(), no_subsystems, {logged_child("w", log)}};
    REQUIRE(rt.call<int>("w", ping_atom::value, 0).value() == 1);
    rt.spawn(worker, 0);
    REQUIRE(!rt.stop());
  }
  // A detached CAF thread reports completion just before it exits; a leak
  // would not go away, an exiting thread does within moments.
  CHECK(eventually([&] { return thread_count() == before; }, 5s));
}

TEST_CASE("shutdown completes within its phase timeouts while an actor refuses to quit") {
  auto before = thread_count();
  {
    auto cfg = quiet_config();
    cfg.runtime.shutdown_timeout = 200ms;
    child_spec spec;
    spec.name = "stubborn";
    spec.shutdown_timeout = 200ms;
    spec.start = [](caf::actor_system& sys) {
      return sys.spawn(stubborn);
    };
    runtime rt{cfg, no_subsystems, {spec}};
    rt.spawn(stubborn); // unsupervised, equally deaf
    REQUIRE(rt.call<int>("stubborn", ping_atom::value).value() == 0);
    CHECK(!stop_within(rt, 30s));
  }
  CHECK(eventually([&] { return thread_count() == before; }, 5s));
}

TEST_CASE("after stop, calls get unavailable instead of hanging") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems, {logged_child("w", log)}};
  CHECK(!rt.stop());
  CHECK_FALSE(rt.accepting());
  auto r = rt.call<int>("w", ping_atom::value, 0);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::unavailable));
  CHECK(!rt.stop()); // idempotent
}

TEST_CASE("request_stop from inside an actor ends wait()") {
  runtime rt{quiet_config(), no_subsystems};
  auto stopper = rt.spawn([&rt](caf::event_based_actor*) -> caf::behavior {
    return {[&rt](ping_atom) {
      rt.request_stop();
    }};
  });
  caf::anon_send(stopper, ping_atom::value);
  REQUIRE(rt.wait_for(10s));
  CHECK(!rt.wait());
}

TEST_CASE("a critical component that cannot start fails the constructor cleanly") {
  auto before = thread_count();
  child_spec bad;
  bad.name = "bad";
  bad.start = [](caf::actor_system&) -> caf::expected<caf::actor> {
    return make_error(errc::unavailable, "no disk");
  };
  CHECK_THROWS_WITH((runtime{quiet_config(), no_subsystems, {bad}}),
                    Catch::Contains("critical component 'bad' failed to start") &&
                        Catch::Contains("no disk"));
  CHECK(eventually([&] { return thread_count() == before; }, 5s));
}

TEST_CASE("errors render readably and CAF's transport errors map onto ours") {
  CHECK(render(make_error(errc::pool_timeout, "waited 30s")) == "p21::pool_timeout: waited 30s");
  CHECK(render(make_error(errc::unavailable)) == "p21::unavailable");
  CHECK(is(normalize(caf::make_error(caf::sec::request_receiver_down)), errc::unavailable));
  CHECK(is(normalize(caf::make_error(caf::sec::request_timeout)), errc::timeout));
  CHECK(normalize(caf::make_error(caf::sec::runtime_error)) == caf::sec::runtime_error);
  CHECK(make_error(errc::overloaded) == errc::overloaded);
}

TEST_CASE("the scheduler uses [runtime] threads") {
  auto cfg = quiet_config();
  cfg.runtime.threads = 3;
  runtime rt{cfg, no_subsystems};
  CHECK(rt.system().scheduler().num_workers() == 3);
}

TEST_CASE("with auto_init = false nothing starts until its first use or init()") {
  event_log log;
  auto cfg = quiet_config();
  cfg.performance.auto_init = false;
  runtime rt{cfg, no_subsystems, {logged_child("a", log), logged_child("b", log)}};
  CHECK_FALSE(rt.initialized());
  auto running = [&] {
    std::vector<std::string> out;
    for (auto& c : rt.components())
      if (c.running)
        out.push_back(c.name);
    return out;
  };
  CHECK(running().empty());
  CHECK(log.count("start:a") == 0);
  // A component added now waits as well, even a critical one.
  REQUIRE_FALSE(rt.add_component(logged_child("c", log)));
  CHECK(log.count("start:c") == 0);
  // First use starts that component alone.
  CHECK(rt.call<int>("a", ping_atom::value, 0).value() == 1);
  CHECK(running() == std::vector<std::string>{"a"});
  CHECK(log.count("start:b") == 0);
  // init() starts every critical component, once.
  REQUIRE_FALSE(rt.init());
  CHECK(rt.initialized());
  CHECK(log.count("start:a") == 1);
  CHECK(log.count("start:b") == 1);
  CHECK(log.count("start:c") == 1);
  CHECK(rt.component("b")->running);
  REQUIRE_FALSE(rt.init());
  CHECK(log.count("start:b") == 1);
  CHECK(rt.healthy(5s));
}

TEST_CASE("with auto_init = true (the default) critical components start with the node") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems, {logged_child("a", log)}};
  CHECK(rt.initialized());
  CHECK(log.count("start:a") == 1);
  CHECK(rt.component("a")->running);
}
