// The monitor's knob `monitor.interval` (seconds), and `p21_knob_value`:
// every knob's value, read from its owner in each sampling round.

#include <catch2/catch.hpp>

#include "p21/monitor.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("monitor.interval reads and sets the sampling interval in seconds") {
  auto cfg = test_config();
  cfg.performance.monitor_interval = 30s;
  runtime rt{cfg};
  CHECK(rt.knob("monitor.interval").value() == 30);
  CHECK(rt.set_knob("monitor.interval", 2.5).value() == 2.5);
  CHECK(rt.knob("monitor.interval").value() == 2.5);
  CHECK(rt.set_knob("monitor.interval", 0.001).value() == Approx(0.1)); // its floor
  CHECK(!rt.stop());
}

TEST_CASE("p21_knob_value exports each knob's value with its knob and component") {
  auto cfg = test_config();
  cfg.performance.monitor_interval = 30s;
  runtime rt{cfg};
  REQUIRE(rt.set_knob("monitor.interval", 20).value() == 20);
  auto mon = monitor::open(rt);
  REQUIRE(mon);
  // Two rounds: the second one surely sees every component running.
  REQUIRE(mon->sample());
  REQUIRE(mon->sample());
  auto m = mon->metrics();
  REQUIRE(m);
  auto seen = exported_knob_value(*m, "monitor.interval", "monitor");
  REQUIRE(seen);
  CHECK(*seen == 20);
  auto text = render_prometheus({*m}, metric_help());
  CHECK_THAT(text, Catch::Contains("p21_knob_value{") && Catch::Contains("knob=\"monitor.interval\""));
  CHECK(!rt.stop());
}
