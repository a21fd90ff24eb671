// The pool's knob `subprocess.max_processes`, set like
// `set_max_processes_atom` and read from the pool's own state.

#include <catch2/catch.hpp>

#include "p21/protocol/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;

TEST_CASE("subprocess.max_processes reads and sets the pool's live limit") {
  auto cfg = test_config();
  cfg.get<subprocess_config>().max_processes = 3;
  runtime rt{cfg};
  REQUIRE(rt.actor_of("subprocess"));
  CHECK(rt.knob("subprocess.max_processes").value() == 3);
  CHECK(rt.set_knob("subprocess.max_processes", 7).value() == 7);
  auto stats = rt.call<subprocess_stats>("subprocess", stats_atom::value);
  REQUIRE(stats);
  CHECK(stats->max_processes == 7);
  CHECK(rt.set_knob("subprocess.max_processes", 1e6).value() == 4096);
  CHECK(rt.call<subprocess_stats>("subprocess", stats_atom::value)->max_processes == 4096);
  CHECK(!rt.stop());
}
