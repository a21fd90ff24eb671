#pragma once

// The monitor's typed interface: system and subsystem metrics, alerts and the
// health score (the report's `get_performance_summary`).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// The metrics the monitor reports about the node and itself.
namespace monitor_metrics {

inline constexpr metric_def system_cpu{"system_cpu_usage_ratio",
                                       "CPU use of the machine (or cgroup quota), 0 to 1.",
                                       metric_kind::gauge, "ratio"};
inline constexpr metric_def process_cpu{"process_cpu_usage_ratio",
                                        "CPU use of this process over the machine's CPUs, 0 to 1.",
                                        metric_kind::gauge, "ratio"};
inline constexpr metric_def children_cpu{
    "children_cpu_usage_ratio",
    "CPU of this process's child processes that ended since the last sample, over the "
    "machine's CPUs, 0 to 1.",
    metric_kind::gauge, "ratio"};
inline constexpr metric_def system_memory{"system_memory_usage_ratio",
                                          "Memory in use (or of the cgroup limit), 0 to 1.",
                                          metric_kind::gauge, "ratio"};
inline constexpr metric_def resident_memory{"process_resident_memory_bytes",
                                            "Resident set size of this process.",
                                            metric_kind::gauge, "bytes"};
inline constexpr metric_def threads{"process_threads", "Threads of this process.",
                                    metric_kind::gauge};
inline constexpr metric_def open_fds{"process_open_fds", "Open file descriptors of this process.",
                                     metric_kind::gauge};
inline constexpr metric_def load1{"system_load1", "One-minute load average.", metric_kind::gauge};
inline constexpr metric_def cpus{
    "system_cpus", "CPUs this process may use (affinity and cgroup quota).", metric_kind::gauge};
inline constexpr metric_def disk_usage{"disk_usage_ratio",
                                       "Used space of a watched path's file system, 0 to 1.",
                                       metric_kind::gauge, "ratio"};
inline constexpr metric_def health_score{
    "health_score", "Health score, 0 to 100, against the report's targets.", metric_kind::gauge};
inline constexpr metric_def alert_firing{"alert_firing", "1 while an alert fires.",
                                         metric_kind::gauge};
inline constexpr metric_def target_value{
    "target_value", "The value each health target is judged on.", metric_kind::gauge};
inline constexpr metric_def samples{"monitor_samples", "Sampling rounds of the monitor.",
                                    metric_kind::counter};
inline constexpr metric_def events{"events", "Alert and optimizer events recorded.",
                                   metric_kind::counter};
inline constexpr metric_def knob_value{
    "knob_value", "Each knob's value, read from its owner each round (labels knob, component).",
    metric_kind::gauge};
inline constexpr metric_def memory_pressure_events{
    "memory_pressure_events",
    "Memory pressure seen as it happened, by source: `psi` (a kernel trigger) or `budget` (RSS "
    "above memory_budget).",
    metric_kind::counter};
inline constexpr metric_def memory_pressure_reaction{
    "memory_pressure_reaction_seconds",
    "From the last memory pressure event to caches shrunk and pressure handlers called.",
    metric_kind::gauge, "seconds"};

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {
    system_cpu,   process_cpu, children_cpu,           system_memory,           resident_memory,
    threads,      open_fds,    load1,                  cpus,                    disk_usage,
    health_score, alert_firing, target_value,          samples,                 events,
    knob_value,   memory_pressure_events,              memory_pressure_reaction};

} // namespace monitor_metrics

/// When an alert fires and when it clears: one `[monitor.alerts.NAME]` as
/// the monitor runs it (a reload sends the whole set).
struct alert_rule {
  alert_rule() = default;

  alert_rule(std::string name, std::string metric, bool above, double threshold,
             double clear_threshold, caf::timespan for_duration)
    : name(std::move(name))
    , metric(std::move(metric))
    , above(above)
    , threshold(threshold)
    , clear_threshold(clear_threshold)
    , for_duration(for_duration) {}

  std::string name;
  /// The metric it watches (a key of the monitor's derived metrics).
  std::string metric;
  /// Fires when the value is above `threshold` (or below, when false).
  bool above = true;
  double threshold = 0;
  /// Clears only once the value is back past this (hysteresis).
  double clear_threshold = 0;
  /// The condition must hold this long before the alert fires.
  caf::timespan for_duration{0};
  /// Whether `for_duration` is the alert's own (`for`), not `[monitor]
  /// alert_for` (which a reload may change).
  bool own_for = false;
  std::string severity = "warning";
  /// Commands run when it fires and when it resolves (argv; empty: none).
  std::vector<std::string> on_fire;
  std::vector<std::string> on_resolve;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alert_rule& x) {
  return f(caf::meta::type_name("p21.alert_rule"), x.name, x.metric, x.above, x.threshold,
           x.clear_threshold, x.for_duration, x.own_for, x.severity, x.on_fire, x.on_resolve);
}

/// Every alert the monitor runs (`set_alerts` replaces them all).
using alert_set = std::vector<alert_rule>;

/// An alert firing or resolving, or an optimizer action.
struct event {
  uint64_t seq = 0;
  caf::timestamp time;
  /// `alert_firing`, `alert_resolved` or `optimizer_action`.
  std::string kind;
  /// Alert or rule name.
  std::string name;
  std::string message;
  double value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("p21.event"), x.seq, x.time, x.kind, x.name, x.message, x.value);
}

/// A point-in-time view of the node.
struct performance_summary {
  /// 0 to 100 against the targets.
  double health_score = 100;
  /// `healthy`, `degraded` or `unhealthy`.
  std::string status = "healthy";
  /// System metrics: cpu_percent, memory_percent, rss_bytes, ...
  std::map<std::string, double> system;
  /// Per subsystem, its named stats.
  std::map<std::string, std::map<std::string, double>> subsystems;
  std::vector<std::string> active_alerts;
  /// Per metric, its EWMA baseline.
  std::map<std::string, double> baselines;
  /// The values the health score judges: cpu_percent, memory_percent,
  /// cache_hit_rate, p95_seconds, error_rate (absent: no traffic yet).
  std::map<std::string, double> targets;
  /// Per metric, its trend in percent of the baseline per minute.
  std::map<std::string, double> trends;
  /// Sampling rounds so far.
  uint64_t samples = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, performance_summary& x) {
  return f(caf::meta::type_name("p21.performance_summary"), x.health_score, x.status, x.system,
           x.subsystems, x.active_alerts, x.baselines, x.targets, x.trends, x.samples);
}

/// One sampling round's health score and target values: the dashboard's
/// charts draw the last rounds from these.
struct history_point {
  caf::timestamp time;
  double health_score = 100;
  /// As `performance_summary::targets` (absent: no traffic in that round).
  std::map<std::string, double> targets;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_point& x) {
  return f(caf::meta::type_name("p21.history_point"), x.time, x.health_score, x.targets);
}

/// The monitor actor. `events` returns those with a sequence number above the
/// argument, newest first; `sample` runs a sampling round now and answers
/// when it is complete; `metrics` is everything `/metrics` exports; `put`
/// records an event (the optimizer's actions); `history` returns the last
/// rounds' health scores and targets, oldest first.
using monitor_actor =
    caf::typed_actor<caf::replies_to<summary_atom>::with<performance_summary>,
                     caf::replies_to<sample_atom>::with<performance_summary>,
                     caf::replies_to<events_atom, uint64_t>::with<std::vector<event>>,
                     caf::replies_to<metrics_atom>::with<metric_set>,
                     caf::reacts_to<put_atom, event>,
                     caf::replies_to<history_atom>::with<std::vector<history_point>>,
                     // Sets the sampling interval (rule 6 stretches it
                     // while CPU is high); returns it.
                     caf::replies_to<set_interval_atom, caf::timespan>::with<caf::timespan>,
                     // How long every alert's condition must hold (`monitor.alert_for`).
                     caf::replies_to<set_alert_for_atom, caf::timespan>::with<caf::timespan>,
                     // Replaces the alerts (`[monitor.alerts]` reloaded);
                     // returns what it added, changed and removed.
                     caf::replies_to<set_alerts_atom, alert_set>::with<std::vector<std::string>>>;

} // namespace p21
