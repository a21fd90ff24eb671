// [optimizer.rules.NAME]: its keys and checks, as the optimizer declares them.

#include <catch2/catch.hpp>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config.hpp"
#include "p21/config_schema.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer_config.hpp"
#include "support/config_refusal.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("an optimizer rule with its clear threshold on the wrong side is refused") {
  auto e = refusal("[optimizer.rules.memory_pressure]\nthreshold = 80\nclear_threshold = 90\n");
  CHECK(e.line() == 3);
  CHECK(e.key() == "optimizer.rules.memory_pressure.clear_threshold");
  CHECK_THAT(e.message(), Catch::Contains("at or below threshold"));
  auto below = refusal("[optimizer.rules.cache_hit_rate]\nthreshold = 60\nclear_threshold = 50\n");
  CHECK_THAT(below.message(), Catch::Contains("at or above threshold"));
}

TEST_CASE("an unknown optimizer rule is refused with a did-you-mean") {
  auto e = refusal("[optimizer.rules.cpu_usgae]\nthreshold = 80\n");
  CHECK(e.line() == 1);
  CHECK(e.key() == "optimizer.rules.cpu_usgae");
  CHECK_THAT(e.message(), Catch::Contains("did you mean 'cpu_usage'"));
}
