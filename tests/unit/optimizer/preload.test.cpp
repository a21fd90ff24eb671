// Rule 4 and rule 7 through a running node: the learned preload list, where
// it lives, unloading unused lazy components, and log rotation.

#include <catch2/catch.hpp>

#include <fstream>

#include <spdlog/spdlog.h>

#include "actors/optimizer/engine.hpp"
#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/object_pool.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/resources.hpp"
#include "support/test_support.hpp"
#include "unit/optimizer/rules_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;
using namespace p21::test::rules;


namespace {

/// Has the optimizer learn that db_pool is used right after start; returns
/// the preload action's log entry once the node actor has replied.
optimizer_action learn_preload(const config& cfg) {
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x)")); // first use: right after start
  auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
  auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
  auto i = std::find_if(acted.begin(), acted.end(),
                        [](auto& a) { return a.rule == "lazy_loading" && a.target == "db_pool"; });
  REQUIRE(i != acted.end());
  optimizer_action result;
  CHECK(eventually([&] {
    auto log = rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0})
                   .value();
    for (auto& a : log)
      if (a.rule == "lazy_loading" && a.target == "db_pool" && a.reply != "sent") {
        result = a;
        return true;
      }
    return false;
  }));
  return result;
}

} // namespace

TEST_CASE("components used soon after start are preloaded at the next start") {
  temp_dir dir{"opt"};
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("data/node.db"); // data/ is created at start
  cfg.performance.optimization_interval = std::chrono::hours{1};
  // The node actor writes the list beside the database (no state_dir).
  auto saved = learn_preload(cfg);
  CHECK(saved.reply == "saved to " + dir.file("data/preload.list"));
  CHECK(read_file(dir.file("data/preload.list")) == "db_pool\n");
  {
    runtime next{cfg};
    CHECK(next.component("db_pool")->starts == 1); // started with the node, not on use
    CHECK(next.component("subprocess")->starts == 0);
  }
}

TEST_CASE("the preload list lives in runtime.state_dir, and an in-memory node without one "
          "keeps none") {
  temp_dir dir{"opt"};
  auto cfg = test_config(); // database ":memory:"
  cfg.performance.optimization_interval = std::chrono::hours{1};
  SECTION("no state_dir: nothing is written") {
    CHECK(learn_preload(cfg).reply == "not saved: no state directory");
  }
  SECTION("state_dir: the list is there, and read from there at the next start") {
    cfg.runtime.state_dir = dir.file("state"); // created at start
    CHECK(learn_preload(cfg).reply == "saved to " + dir.file("state/preload.list"));
    CHECK(read_file(dir.file("state/preload.list")) == "db_pool\n");
    runtime next{cfg};
    CHECK(next.component("db_pool")->starts == 1);
  }
}

TEST_CASE("rule 4 unloads lazy components unused for its for duration, and the next use "
          "starts them again") {
  auto cfg = quick_rules();
  rule(cfg, "lazy_loading").for_duration = std::chrono::minutes{30};
  optimizer_engine e{cfg};
  auto s = base(steady::time_point{} + 1h);
  s.idle_for["subprocess"] = std::chrono::minutes{45};
  s.idle_for["db_pool"] = std::chrono::minutes{5};
  auto ds = of_rule(e.evaluate(s), "lazy_loading");
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].kind == decision::unload);
  CHECK(ds[0].target == "subprocess");

  runtime rt{test_config()};
  REQUIRE(cache::open(rt, "async").value().put("k", "v") == caf::none);
  CHECK(rt.unload("cache.async/0").value());
  CHECK_FALSE(rt.component("cache.async/0")->running);
  CHECK(rt.component("cache.async/0")->unloaded);
  CHECK_FALSE(rt.unload("cache.async/0").value()); // not running
  auto critical = rt.unload("monitor");
  REQUIRE_FALSE(critical);
  CHECK(is(critical.error(), errc::invalid_argument));
  // The next use starts it again (empty: it was unloaded), not as a restart.
  // Unloading asks the shard to stop and returns; until the shard has
  // retired (it clears its table as it goes) a read may still find "k",
  // and a read made while it retires finds the table empty without
  // starting it (the retiring shard still owns it): it is a use after that
  // which starts it. (Waiting only for the empty read failed under ASan.)
  auto c = cache::open(rt, "async").value();
  REQUIRE(eventually([&] {
    return c.get("k").value() == std::nullopt && rt.component("cache.async/0")->running;
  }));
  CHECK(rt.component("cache.async/0")->starts == 2);
  CHECK(rt.component("cache.async/0")->restarts == 0);
}

TEST_CASE("rule 7 rotates the log file through the node actor, and logging goes on") {
  temp_dir dir{"log"};
  auto cfg = test_config();
  cfg.logging.level = p21::log_level::info;
  cfg.logging.console = false;
  cfg.logging.file = dir.file("node.log");
  cfg.get<monitor_config>().watch_paths = {dir.path};
  cfg.performance.optimization_interval = std::chrono::hours{1};
  // A disk rule that fires at any use of the disk.
  auto& du = rule(cfg, "disk_usage");
  du.threshold = 0;
  du.clear_threshold = 0;
  du.for_duration = 0s;
  du.cooldown = 0s;
  {
    runtime rt{cfg};
    spdlog::info("before rotation");
    auto opt = rt.actor_of<optimizer_actor>("optimizer").value();
    auto acted = rt.request<std::vector<optimizer_action>>(opt, 10s, evaluate_atom::value).value();
    REQUIRE(std::any_of(acted.begin(), acted.end(),
                        [](auto& a) { return a.action == "rotate the log file"; }));
    // The node actor's reply lands in the action log.
    CHECK(eventually([&] {
      auto log =
          rt.request<std::vector<optimizer_action>>(opt, 10s, events_atom::value, uint64_t{0})
              .value();
      return std::any_of(log.begin(), log.end(), [](auto& a) {
        return a.action == "rotate the log file" && a.reply == "rotated";
      });
    }));
    spdlog::info("after rotation");
    spdlog::default_logger()->flush();
    std::ifstream rotated{dir.file("node.1.log")};
    std::string text{std::istreambuf_iterator<char>{rotated}, {}};
    CHECK_THAT(text, Catch::Contains("before rotation"));
    std::ifstream current{dir.file("node.log")};
    std::string now{std::istreambuf_iterator<char>{current}, {}};
    CHECK_THAT(now, Catch::Contains("after rotation"));
    CHECK(now.find("before rotation") == std::string::npos);
  }
}
