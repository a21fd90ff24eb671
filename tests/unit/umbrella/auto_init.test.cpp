// auto_init with the standard subsystems: the critical ones (the monitor,
// the optimizer, ...) start with the node, or wait for init().

#include <catch2/catch.hpp>

#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("the standard critical components start with the node, or wait for init() with "
          "auto_init = false") {
  {
    runtime rt{test_config()};
    REQUIRE(rt.component("monitor"));
    CHECK(rt.component("monitor")->running);
  }
  auto cfg = test_config();
  cfg.performance.auto_init = false;
  runtime rt{cfg};
  REQUIRE(rt.component("monitor"));
  for (auto& c : rt.components())
    CHECK_FALSE(c.running);
  REQUIRE_FALSE(rt.init());
  CHECK(rt.component("monitor")->running);
  CHECK(rt.healthy(5s));
}
