#pragma once

// `[monitor]` and `[monitor.alerts.NAME]`, owned by the monitor
// (actors/monitor/config_keys.cpp declares their keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// `[monitor]`: alerts and sampling details (the interval is the report's
/// `[performance] monitor_interval`).
/// `[monitor.alerts.NAME]`: one alert on a derived target or on any
/// exported series. The five report targets are defaults of this table.
struct alert_config {
  bool enabled = true;
  /// A derived target (`cpu_percent`, `memory_percent`, `cache_hit_rate`,
  /// `p95_seconds`, `error_rate`) or an exported series with optional label
  /// matchers, as `/metrics` spells it: `p21_cache_hit_ratio{cache="shared"}`
  /// (several matching series are summed).
  std::string metric;
  /// Fires above `threshold` (`above = true`, the default) or below it
  /// (`below = true`).
  bool above = true;
  double threshold = 0;
  /// Clears once back past this (hysteresis); unset: the threshold.
  std::optional<double> clear;
  /// How long the condition must hold; unset: `[monitor] alert_for`.
  std::optional<timespan> for_duration;
  /// Free text carried into events, logs and the commands' environment.
  std::string severity = "warning";
  /// Commands (argv, no shell) run through the subprocess pool when the
  /// alert fires or resolves, with P21_ALERT_NAME, P21_ALERT_VALUE,
  /// P21_ALERT_STATE, P21_ALERT_METRIC and P21_ALERT_SEVERITY set.
  std::vector<std::string> on_fire;
  std::vector<std::string> on_resolve;
};

struct monitor_config {
  /// How long an alert's condition must hold before it fires.
  timespan alert_for = std::chrono::seconds{0};
  /// `[monitor.alerts.NAME]`; a loaded config and a running node's have the
  /// five defaults too (disable one with `enabled = false`).
  std::map<std::string, alert_config> alerts;
  /// Alert commands running at once; more are skipped and logged.
  size_t alert_commands_max = 4;
  /// Paths whose file system's use is sampled (disk %); empty: the
  /// database's directory.
  std::vector<std::string> watch_paths;
  /// Alert and optimizer events kept for `/events`.
  size_t events_max = 1000;
  /// The PSI trigger on memory stalls ("some|full STALL_US WINDOW_US",
  /// actors/monitor/pressure_watcher.hpp); empty: no PSI.
  std::string psi_trigger = "some 100000 1000000";
  /// How often RSS is compared with `[performance] memory_budget`; 0: only
  /// the optimizer's rounds compare them.
  timespan pressure_check = std::chrono::milliseconds{5};
  /// The share of each cache, and of the pressure handlers' holdings, given
  /// back at once on memory pressure.
  double pressure_release = 0.25;
};

} // namespace p21
