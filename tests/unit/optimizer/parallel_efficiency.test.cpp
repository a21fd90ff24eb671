// Rule 8 raising max_processes (issue 32 point 8): commands wait for a slot
// while the CPU is free. In model mode to what Little's law says, in fixed
// mode by `step`; never while the CPU is busy, memory is tight or rule 6
// moved the limit, and not back down while commands wait.

#include <catch2/catch.hpp>

#include "actors/optimizer/engine.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace p21::test::rules;
using namespace std::chrono_literals;

namespace {

/// A pool of `slots` kept busy for a minute by commands of 100 ms that
/// waited 400 ms each for a slot (20 started a second: Little's law says
/// 20 x 0.5 s = 10 commands in the pool), `queued` still waiting at the end.
void busy_minute(node_snapshot& s, uint64_t slots, uint64_t queued) {
  s.now += 60s;
  auto& p = *s.proc;
  p.max_processes = slots;
  p.busy_time += std::chrono::seconds{60 * slots};
  p.slot_time += std::chrono::seconds{60 * slots};
  p.queued = queued;
  p.duration.count += 1200;
  p.duration.sum += 120;
  p.queue_time.count += 1200;
  p.queue_time.sum += 480;
}

/// `quick_rules()` in `mode`, starting with `slots` processes; rule 9 off
/// (it also raises the limit on waits; these tests are about rule 8).
config pool_rules(const std::string& mode, size_t slots) {
  auto cfg = quick_rules();
  cfg.get<optimizer_config>().mode = mode;
  cfg.get<subprocess_config>().max_processes = slots;
  cfg.get<optimizer_config>().rules.at("response_time").enabled = false;
  return cfg;
}

node_snapshot pool_base(uint64_t slots) {
  auto s = base(steady::time_point{} + 1h);
  s.proc->max_processes = slots;
  s.cpus = 2;
  s.cpu_percent = 4;
  return s;
}

} // namespace

TEST_CASE("rule 8 raises max_processes to what Little's law says when commands queue and the "
          "CPU is free, and leaves it there once nothing waits") {
  optimizer_engine e{pool_rules("model", 2)};
  auto s = pool_base(2);
  e.evaluate(s);
  busy_minute(s, 2, 6);
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::set_max_processes);
  CHECK(ds[0].arg == 13); // 10 in the pool x 1.25, rounded up
  CHECK(ds[0].value == Approx(100));
  CHECK(ds[0].why.find("Little's law") != std::string::npos);
  CHECK(e.state().max_processes == 13);
  // 13 slots, 10 busy, nothing waits: 77 % busy, inside the hysteresis
  // band (70..80): neither lowered nor raised.
  for (int i = 0; i < 5; ++i) {
    s.now += 60s;
    s.proc->max_processes = 13;
    s.proc->busy_time += 600s;
    s.proc->slot_time += 780s;
    s.proc->queued = 0;
    s.proc->duration.count += 6000;
    s.proc->duration.sum += 600;
    s.proc->queue_time.count += 6000;
    CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
  }
}

TEST_CASE("rule 8 raises max_processes by its step in fixed mode") {
  optimizer_engine e{pool_rules("fixed", 4)};
  auto s = pool_base(4);
  e.evaluate(s);
  busy_minute(s, 4, 6);
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 6); // + 50 % (the default step)
  busy_minute(s, 6, 4);
  ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 9);
}

TEST_CASE("rule 8 does not raise max_processes while the CPU is busy") {
  optimizer_engine e{pool_rules("model", 2)};
  auto s = pool_base(2);
  s.cpu_percent = 72; // below rule 6's threshold (80), not below its clear one (70)
  e.evaluate(s);
  busy_minute(s, 2, 6);
  CHECK(e.evaluate(s).empty());
  CHECK(e.state().max_processes == 2);
}

TEST_CASE("rule 8 does not raise max_processes while memory is tight") {
  optimizer_engine e{pool_rules("model", 2)};
  auto s = pool_base(2);
  s.memory_percent = 80; // above memory_pressure's clear threshold (75)
  e.evaluate(s);
  busy_minute(s, 2, 6);
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
  // Memory back below the clear threshold: it raises.
  s.memory_percent = 40;
  busy_minute(s, 2, 6);
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").size() == 1);
}

TEST_CASE("rule 8 raises no further than the CPU headroom of the commands running allows") {
  optimizer_engine e{pool_rules("model", 2)};
  auto s = pool_base(2);
  s.cpu_percent = 40; // 20 % per running command, charged to them: 1 more keeps CPU under 70 %
  e.evaluate(s);
  busy_minute(s, 2, 6);
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 3);
  CHECK(ds[0].why.find("bound: 3 keep CPU under 70 %") != std::string::npos);
  CHECK(ds[0].why.find("the machine's CPU charged to them") != std::string::npos);
}

TEST_CASE("rule 8 bounds a raise by the commands' own CPU when the monitor knows it") {
  SECTION("commands that sleep: the CPU others use does not hold them back") {
    optimizer_engine e{pool_rules("model", 2)};
    auto s = pool_base(2);
    s.cpu_percent = 40;
    s.children_cpu_percent = 2; // 1 % per running command
    e.evaluate(s);
    busy_minute(s, 2, 6);
    auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
    REQUIRE(ds.size() == 1);
    CHECK(ds[0].arg == 13);
  }
  SECTION("CPU-bound commands: no more than the CPU left holds") {
    optimizer_engine e{pool_rules("model", 2)};
    auto s = pool_base(2);
    s.cpu_percent = 45;
    s.children_cpu_percent = 40; // 20 % each: 1 more keeps CPU under 70 %
    e.evaluate(s);
    busy_minute(s, 2, 6);
    auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
    REQUIRE(ds.size() == 1);
    CHECK(ds[0].arg == 3);
    CHECK(ds[0].why.find("the commands' own CPU") != std::string::npos);
  }
}

TEST_CASE("rule 8 raises only once commands have waited for its for duration") {
  auto cfg = pool_rules("fixed", 4);
  cfg.get<optimizer_config>().rules.at("parallel_efficiency").for_duration = 90s;
  optimizer_engine e{cfg};
  auto s = pool_base(4);
  e.evaluate(s);
  busy_minute(s, 4, 6); // waiting from here
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
  busy_minute(s, 4, 6); // 60 s
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
  busy_minute(s, 4, 6); // 120 s
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").size() == 1);
}

TEST_CASE("rule 8's raise and lowering share one cooldown") {
  auto cfg = pool_rules("fixed", 4);
  cfg.get<optimizer_config>().rules.at("parallel_efficiency").cooldown = 150s;
  optimizer_engine e{cfg};
  auto s = pool_base(4);
  e.evaluate(s);
  busy_minute(s, 4, 6);
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 6);
  busy_minute(s, 6, 6); // 60 s after the raise: still waiting, in the cooldown
  CHECK(of_rule(e.evaluate(s), "parallel_efficiency").empty());
  // The load drops to 1 command on 6 slots (17 % busy): the lowering
  // branch waits for the raise's cooldown too.
  std::vector<double> lowered;
  for (int i = 0; i < 2; ++i) {
    s.now += 60s;
    s.proc->busy_time += 60s;
    s.proc->slot_time += 360s;
    s.proc->queued = 0;
    s.proc->duration.count += 600;
    s.proc->duration.sum += 60;
    s.proc->queue_time.count += 600;
    auto d = of_rule(e.evaluate(s), "parallel_efficiency");
    lowered.push_back(d.empty() ? 0 : d[0].arg);
  }
  CHECK(lowered == std::vector<double>{0, 4}); // 120 s after the raise, then 180 s
}

TEST_CASE("rule 8 does not raise max_processes in an interval rule 6 moved it, nor above "
          "rule 6's ceiling") {
  optimizer_engine e{pool_rules("fixed", 8)};
  auto s = pool_base(8);
  e.evaluate(s);
  s.cpu_percent = 95; // rule 6 lowers 8 -> 6, its ceiling one below 8
  busy_minute(s, 8, 6);
  auto ds = e.evaluate(s);
  REQUIRE(of_rule(ds, "cpu_usage").size() >= 1);
  CHECK(e.state().max_processes == 6);
  CHECK(of_rule(ds, "parallel_efficiency").empty());
  s.cpu_percent = 4; // calm: rule 6 restores to 7, commands still wait
  busy_minute(s, 6, 6);
  ds = e.evaluate(s);
  CHECK(e.state().max_processes == 7);
  CHECK(of_rule(ds, "parallel_efficiency").empty());
  busy_minute(s, 7, 6); // rule 6 still; rule 8 stops at the ceiling (7)
  ds = e.evaluate(s);
  CHECK(ds.empty());
  CHECK(e.state().max_processes == 7);
}

TEST_CASE("rule 8 raises at its first evaluation from the pool's counters since it started") {
  optimizer_engine e{pool_rules("model", 2)};
  auto s = pool_base(2);
  busy_minute(s, 2, 6); // no evaluation before: 120 s of slots at 2 = 60 s of wall time
  auto ds = of_rule(e.evaluate(s), "parallel_efficiency");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].arg == 13);
}
