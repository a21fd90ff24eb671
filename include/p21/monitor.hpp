#pragma once

// The monitor handle and component: every `monitor_interval` it samples the
// system and asks each running component for its metrics, evaluates the
// alerts, updates baselines and trends, and computes the health score.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "p21/monitor_config.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/runtime.hpp"

namespace p21 {

/// A handle to the node's monitor.
class monitor {
public:
  static caf::expected<monitor> open(runtime& rt, const std::string& name = "monitor");

  /// The last round's summary (the report's `get_performance_summary`).
  caf::expected<performance_summary> summary();

  /// Runs a sampling round now and returns its summary.
  caf::expected<performance_summary> sample();

  /// Alert and optimizer events with a sequence number above `since`, newest
  /// first.
  caf::expected<std::vector<event>> events(uint64_t since = 0);

  /// Everything `/metrics` exports, as data.
  caf::expected<metric_set> metrics();

  /// The same in the Prometheus text format.
  caf::expected<std::string> prometheus_text();

  caf::expected<monitor_actor> actor();

private:
  monitor(runtime& rt, std::string name)
    : rt_(&rt)
    , name_(std::move(name)) {}

  runtime* rt_;
  std::string name_;
};

/// The metrics the subsystems report to the monitor, from their protocol
/// headers' `*_metrics::all` lists. Metrics registered in a registry (the
/// cluster's per-peer ones, the user's) bring their help with them.
const std::vector<metric_def>& metric_definitions();

/// Help texts of `metric_definitions()`, by name without `p21_`: the
/// exporter's lookup, built from the definitions.
const std::map<std::string, std::string>& metric_help();

/// `[monitor.alerts]` defaults: the report's five targets (high_cpu,
/// high_memory, low_cache_hit_rate, slow_responses, high_error_rate).
std::map<std::string, alert_config> default_alerts();

/// The monitor's component spec.
child_spec monitor_component(const std::string& name, const config& cfg,
                             std::shared_ptr<const node_view> view);

/// The HTTP endpoint's component spec (`[http] listen`); it answers
/// `get_atom` with the port it listens on.
child_spec http_component(const std::string& name, const config& cfg,
                          std::shared_ptr<const node_view> view);

} // namespace p21
