#pragma once

// What the monitor actor runs with, read from a config: at its first start
// and again at each restart (so a restart keeps a reload's values).

#include <string>
#include <vector>

#include "alerts.hpp"
#include "p21/config.hpp"
#include "p21/knob.hpp"
#include "pressure_watcher.hpp"

namespace p21 {

struct monitor_settings {
  timespan interval{0};
  timespan alert_for{0};
  std::vector<std::string> watch_paths;
  size_t events_max = 1000;
  std::vector<alert_rule> alerts;
  size_t alert_commands_max = 4;
  /// `monitor.interval`, as `set_interval_atom` sets it.
  knob_spec interval_knob{"monitor.interval", 0.1, 3600, false, "seconds",
                          "time between sampling rounds", {"performance.monitor_interval"}};
  pressure_settings pressure;
  double pressure_release = 0.25;
};

/// The monitor's settings in `cfg`.
monitor_settings settings_of(const config& cfg);

} // namespace p21
