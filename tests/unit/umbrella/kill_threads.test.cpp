// A component killed from outside is restarted, and what the killed
// incarnation held goes away: its thread too. CAF 0.17 ends a detached
// actor's thread only when nothing references the actor any more; a pending
// delayed message is such a reference (the fault soak found a killed
// monitor's thread living on for a whole monitor interval).
//
// The count to return to is taken once every component has handled a
// message: a component spawns its detached children (the db writer, the git
// worker) when it first runs, which may be after `actor_of` returned. Counted
// earlier, the first component killed (the monitor) seemed to leave a thread
// behind that was in fact a sibling's child starting late.

#include <catch2/catch.hpp>

#include "p21/cache_config.hpp"
#include "p21/db_config.hpp"
#include "p21/http_config.hpp"
#include "p21/p21.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("killing any component three times leaves no thread behind once it runs again",
          "[supervision]") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("kill.db");
  cfg.get<http_config>().listen = "127.0.0.1:" + std::to_string(free_port());
  cfg.get<cache_config>().caches["k"].max_entries = 100;
  cfg.supervisor.max_restarts = 1000;
  cfg.supervisor.backoff_initial = 1ms;
  cfg.supervisor.backoff_max = 10ms;
  runtime rt{cfg};
  std::vector<std::string> names;
  for (auto& c : rt.components())
    if (rt.actor_of(c.name)) // starts the lazy ones
      names.push_back(c.name);
  REQUIRE(names.size() >= 5);
  // Every component has run its start-up (and spawned its children) once it
  // answers CAF's built-in "info" request.
  auto handled_a_message = [&](const std::string& name) {
    auto a = rt.actor_of(name);
    if (!a)
      return false;
    bool answered = false;
    caf::scoped_actor self{rt.system()};
    self->request(*a, 10s, caf::sys_atom::value, caf::get_atom::value, std::string{"info"})
        .receive([&](caf::ok_atom, std::string&, caf::strong_actor_ptr&,
                     std::string&) { answered = true; },
                 [&](caf::error&) {});
    return answered;
  };
  for (auto& name : names) {
    INFO(name);
    for (auto& n : names) // the previous component's new incarnation too
      REQUIRE(handled_a_message(n));
    auto before = thread_count();
    for (int i = 0; i < 3; ++i) {
      auto a = rt.actor_of(name);
      REQUIRE(a);
      auto restarts = rt.component(name)->restarts;
      caf::anon_send_exit(*a, caf::exit_reason::kill);
      REQUIRE(eventually(
          [&] {
            auto c = rt.component(name);
            return c->restarts > restarts && c->running;
          },
          10s));
    }
    CHECK(eventually([&] { return thread_count() <= before; }, 10s));
  }
}
