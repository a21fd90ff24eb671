#pragma once

// What the optimizer engine's tests share: rules that act at once, a calm
// node's snapshot, and the decisions of one rule.

#include <string>
#include <vector>

#include "actors/optimizer/engine.hpp"
#include "p21/config.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/subprocess_config.hpp"

namespace p21::test::rules {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Rules with no `for`, no cooldown and no forecast unless a test sets
/// them, moving by fixed steps (the model tests switch to "model").
inline config quick_rules() {
  config cfg;
  cfg.get<optimizer_config>().rules = default_rules();
  for (auto& [name, rc] : cfg.get<optimizer_config>().rules) {
    rc.for_duration = 0s;
    rc.cooldown = 0s;
    rc.predict = 0s;
  }
  cfg.get<optimizer_config>().mode = "fixed";
  cfg.get<database_config>().pool_size = 4;
  cfg.get<database_config>().max_overflow = 4;
  cfg.get<subprocess_config>().max_processes = 16;
  return cfg;
}

inline node_snapshot base(steady::time_point t) {
  node_snapshot s;
  s.now = t;
  s.memory_percent = 40;
  s.cpu_percent = 20;
  s.caches.push_back({"cache.async/0", 0, 0, 0, 0, 1000, 1 << 20});
  s.db = node_snapshot::db_view{};
  s.proc = node_snapshot::proc_view{};
  s.proc->max_processes = 16;
  s.proc->git_capacity = 256;
  return s;
}

inline std::vector<decision> of_rule(const std::vector<decision>& ds, const std::string& rule) {
  std::vector<decision> out;
  for (auto& d : ds)
    if (d.rule == rule)
      out.push_back(d);
  return out;
}

} // namespace p21::test::rules
