// The built-in rules' typed decisions (pool size, a cache shard's
// capacity, the subprocess limit, the monitor's interval) go through the
// knob their target declares, so that the supervisor keeps the value
// across the owner's restart (tests/unit/umbrella/knob_restart.test.cpp).

#include <catch2/catch.hpp>

#include "actors/optimizer/knob_route.hpp"

using namespace p21;

namespace {

component_stats component(const std::string& name, knob_specs knobs) {
  component_stats c;
  c.name = name;
  c.knobs = std::move(knobs);
  return c;
}

decision of(decision::kind_t kind, const std::string& target) {
  decision d;
  d.rule = "test";
  d.kind = kind;
  d.target = target;
  d.arg = 5;
  return d;
}

} // namespace

TEST_CASE("a typed decision is carried out through the knob its target declares") {
  knob_spec whole{"cache.big.max_entries", 1, 1e9};
  whole.composite = true;
  std::vector<component_stats> node{
      component("db_pool", {{"db_pool.pool_size", 1, 10'000}}),
      component("subprocess", {{"subprocess.max_processes", 1, 4096}}),
      component("monitor", {{"monitor.interval", 0.1, 3600, false}}),
      component("cache.big/2", {{"cache.big/2.max_entries", 1, 1e9}}),
      component("cache.big", {whole}),
      component("cache.r/0", {{"cache.r.max_entries", 1, 1e9}}),
  };
  CHECK(knob_for(of(decision::set_pool_size, "db_pool"), node) == "db_pool.pool_size");
  CHECK(knob_for(of(decision::set_max_processes, "subprocess"), node) ==
        "subprocess.max_processes");
  CHECK(knob_for(of(decision::set_monitor_interval, "monitor"), node) == "monitor.interval");
  CHECK(knob_for(of(decision::resize_cache, "cache.big/2"), node) == "cache.big/2.max_entries");
  CHECK(knob_for(of(decision::resize_cache, "cache.r/0"), node) == "cache.r.max_entries");
  // No knob for it: the typed message, as before.
  CHECK_FALSE(knob_for(of(decision::resize_cache, "cache.big"), node)); // composite
  CHECK_FALSE(knob_for(of(decision::resize_git_cache, "subprocess"), node));
  CHECK_FALSE(knob_for(of(decision::set_pool_size, "other_pool"), node));
  CHECK_FALSE(knob_for(of(decision::shrink_cache, "cache.r/0"), node));
  CHECK(applied_text(8) == "8");
  CHECK(applied_text(2.5) == "2.500000");
}
