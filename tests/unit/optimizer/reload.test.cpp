// The optimizer follows a reload: the sizes it reasons from and the bounds it
// steps within are the reloaded ones, so its next action does not undo it.

#include <catch2/catch.hpp>

#include "actors/optimizer/engine.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace p21::test::rules;
using namespace std::chrono_literals;

TEST_CASE("after a reload of pool_size the engine steps from the new size, never back") {
  auto cfg = quick_rules(); // pool_size 4, max_overflow 4, fixed steps of 1
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  s.db->waiting = 5;
  auto grow = of_rule(e.evaluate(s), "connection_pool");
  REQUIRE(grow.size() == 1);
  CHECK(grow[0].arg == 5);
  // The operator sets 8 (the db pool's reload applies it); reads still wait.
  auto next = cfg;
  next.get<database_config>().pool_size = 8;
  e.reconfigure(next);
  CHECK(e.state().pool_size == 8);
  s.now += 1min;
  grow = of_rule(e.evaluate(s), "connection_pool");
  REQUIRE(grow.size() == 1);
  CHECK(grow[0].arg == 9); // from 8, within the new ceiling 8 + 4
  // Calm for long: back to the reloaded 8, not to the start-up 4.
  s.db->waiting = 0;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 10; ++i) {
    s.now += 2min;
    for (auto& d : of_rule(e.evaluate(s), "connection_pool"))
      sizes.push_back(uint64_t(d.arg));
  }
  CHECK(sizes == std::vector<uint64_t>{8});
}

TEST_CASE("after a reload of max_processes the engine restores up to the new limit") {
  auto cfg = quick_rules(); // max_processes 16
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  auto next = cfg;
  next.get<subprocess_config>().max_processes = 32;
  e.reconfigure(next);
  CHECK(e.state().max_processes == 32);
  // CPU overload lowers from 32 (not from the start-up 16) ...
  s.cpu_percent = 95;
  std::vector<uint64_t> sizes;
  for (auto& d : of_rule(e.evaluate(s), "cpu_usage"))
    if (d.kind == decision::set_max_processes)
      sizes.push_back(uint64_t(d.arg));
  CHECK(sizes == std::vector<uint64_t>{24});
  // ... and a calm spell restores up to 32.
  s.cpu_percent = 10;
  sizes.clear();
  for (int i = 0; i < 20; ++i) {
    s.now += 1min;
    for (auto& d : of_rule(e.evaluate(s), "cpu_usage"))
      if (d.kind == decision::set_max_processes)
        sizes.push_back(uint64_t(d.arg));
  }
  REQUIRE_FALSE(sizes.empty());
  CHECK(sizes.back() == 32);
}

TEST_CASE("a reload of database.pool_size reaches the running optimizer, whose next action "
          "starts from it") {
  auto cfg = test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1}; // only on demand
  cfg.performance.auto_optimization = true;
  cfg.get<optimizer_config>().mode = "fixed";
  cfg.get<database_config>().pool_size = 2;
  cfg.get<database_config>().max_overflow = 10;
  // Rule 3 fires on every evaluation (0 waiting reads is above -1): one
  // step (25 % of max_overflow: 3) up from what the engine thinks the
  // pool has.
  auto& pool = rule(cfg, "connection_pool");
  pool.threshold = -1;
  pool.clear_threshold = -2;
  pool.for_duration = 0s;
  pool.cooldown = 0s;
  pool.predict = 0s;
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x)"));
  auto next = cfg;
  next.get<database_config>().pool_size = 6;
  auto report = rt.reload(next);
  REQUIRE(std::find(report.applied.begin(), report.applied.end(), "database.pool_size") !=
          report.applied.end());
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  auto grow =
      std::find_if(acted.begin(), acted.end(), [](auto& a) { return a.rule == "connection_pool"; });
  REQUIRE(grow != acted.end());
  // From 6, not from the start-up 2 (which would have set 5: below the reload).
  CHECK_THAT(grow->action, Catch::StartsWith("set db_pool pool_size to 9"));
}
