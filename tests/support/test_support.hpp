#pragma once

// Helpers shared by the tests that run a node with the standard subsystems
// (the umbrella library): the framework's helpers (actor_support.hpp) and a
// quiet config whose database is in memory.

#include <optional>
#include <string>

#include "p21/db_config.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/subsystems.hpp"
#include "support/actor_support.hpp"

namespace p21::test {

/// A quiet config for tests: errors only, fast restarts, an in-memory
/// database.
inline config test_config() {
  auto cfg = quiet_config();
  cfg.get<database_config>().path = ":memory:";
  return cfg;
}

/// What `p21_knob_value{knob, component}` exports in the monitor's metrics
/// `m`, if it exports it.
inline std::optional<double> exported_knob_value(metric_set& m, const std::string& knob,
                                                 const std::string& component) {
  std::optional<double> seen;
  for (auto& g : m.gauges)
    if (monitor_metrics::knob_value.names(g.name) && g.labels["knob"] == knob &&
        g.labels["component"] == component)
      seen = g.value;
  return seen;
}

} // namespace p21::test
