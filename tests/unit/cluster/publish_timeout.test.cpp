// The cluster publishes its gateway through a middleman with a bounded
// request: a middleman that never answers is a start error, not a hung
// start (it used to wait with caf::infinite).
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include "actors/cluster/tls_transport.hpp"
#include "p21/error.hpp"

using namespace std::chrono_literals;

TEST_CASE("a publish its middleman never answers times out with a clear error") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  // Takes the publish request and keeps its promise unanswered.
  auto silent = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    auto held = std::make_shared<std::vector<caf::response_promise>>();
    return {[=](caf::publish_atom, uint16_t, caf::strong_actor_ptr&, std::set<std::string>&,
                std::string&, bool) {
      held->push_back(self->make_response_promise());
      return held->back();
    }};
  });
  auto gateway = sys.spawn([]() -> caf::behavior {
    return {[](int x) {
      return x;
    }};
  });
  auto bound = p21::cluster_detail::publish_through(
      caf::actor_cast<caf::io::middleman_actor>(silent), gateway, 0, "127.0.0.1", 200ms);
  REQUIRE_FALSE(bound);
  CHECK(p21::is(bound.error(), p21::errc::timeout));
  CHECK_THAT(p21::render(bound.error()), Catch::Contains("no reply within"));
  caf::anon_send_exit(silent, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}
