#pragma once

// Alerts with Prometheus' semantics plus hysteresis, EWMA baselines with
// trends, and the health score. Plain classes driven by the monitor; time
// is a parameter, so tests inject it.

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "p21/config.hpp"
#include "p21/monitor_config.hpp"
#include "p21/protocol/monitor.hpp"

namespace p21 {

/// The enabled alerts of `[monitor.alerts]`, those without `for` holding
/// for `alert_for`.
std::vector<alert_rule> alert_rules(const std::map<std::string, alert_config>& alerts,
                                    std::chrono::nanoseconds alert_for);

/// The report's targets as alerts: CPU > 70 %, memory > 80 %, cache hit rate
/// < 75 %, p95 response > 200 ms, error rate > 1 %, each with a clear band.
std::vector<alert_rule> default_alert_rules(std::chrono::nanoseconds for_duration);

/// One alert's state machine: inactive -> pending (condition holds) ->
/// firing (held for `for_duration`) -> inactive (past the clear threshold).
class alert {
public:
  using clock = std::chrono::steady_clock;

  enum class transition { none, fired, resolved };

  explicit alert(alert_rule rule)
    : rule_(std::move(rule)) {}

  /// Feeds one observation; says whether the alert fired or resolved.
  transition observe(double value, clock::time_point now);

  bool firing() const noexcept { return firing_; }
  bool pending() const noexcept { return pending_since_.has_value(); }
  const alert_rule& rule() const noexcept { return rule_; }

  /// A new definition that keeps the state: a firing alert stays firing
  /// until the new `clear_threshold` says otherwise.
  void redefine(alert_rule rule) { rule_ = std::move(rule); }

  /// A new hold time; a pending condition counts from when it began.
  void set_for_duration(std::chrono::nanoseconds d) noexcept {
    if (!rule_.own_for)
      rule_.for_duration = d;
  }
  double last_value() const noexcept { return last_; }

private:
  alert_rule rule_;
  bool firing_ = false;
  std::optional<clock::time_point> pending_since_;
  double last_ = 0;
};

/// What replacing the running alerts did (a reload of `[monitor.alerts]`).
struct alert_set_change {
  std::vector<std::string> added;
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  /// Alerts that were firing and are gone, or now watch another metric or
  /// side: the monitor resolves each (event, `on_resolve`).
  std::vector<alert> resolved;

  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
};

/// Replaces `alerts` by one alert per rule, in the rules' order. An unchanged
/// alert keeps its state, and so does one whose thresholds, hold time,
/// severity or commands changed (its next observation is judged by the new
/// values); one that watches another metric or side starts afresh, and a
/// removed one is dropped.
alert_set_change replace_alerts(std::vector<alert>& alerts, const std::vector<alert_rule>& rules);

/// An exponentially weighted baseline and the slope of recent values.
class trend {
public:
  using clock = std::chrono::steady_clock;

  /// `alpha`: weight of a new value in the baseline; `window`: how far back
  /// the slope looks.
  explicit trend(double alpha = 0.2, std::chrono::nanoseconds window = std::chrono::minutes{5})
    : alpha_(alpha)
    , window_(window) {}

  void observe(double value, clock::time_point now);

  std::optional<double> baseline() const noexcept { return baseline_; }

  /// Least-squares slope over the window, in units per minute.
  double slope_per_minute() const;

  /// The slope relative to the baseline, percent per minute (0 without one).
  double percent_per_minute() const;

private:
  double alpha_;
  std::chrono::nanoseconds window_;
  std::optional<double> baseline_;
  std::deque<std::pair<clock::time_point, double>> points_;
};

/// What the health score is computed from; unset inputs count as on target.
struct health_inputs {
  std::optional<double> cpu_percent;
  std::optional<double> memory_percent;
  std::optional<double> cache_hit_rate; // 0..1
  std::optional<double> p95_seconds;
  std::optional<double> error_rate; // 0..1
};

/// 0..100: each of the five targets is worth 20 points, full while on target
/// (CPU < 70 %, memory < 80 %, hit rate > 75 %, p95 < 200 ms, errors < 1 %),
/// falling linearly to 0 at twice as far from ideal (CPU and memory at 100 %,
/// hit rate at 37.5 %, p95 at 400 ms, errors at 2 %).
double health_score(const health_inputs& in);

/// The metric families (`metric_family_key`) an alert on `metric` watches,
/// for the optimizer's wake-up: a target's inputs, or the family a series
/// selector names (`p21_cache_hit_ratio{cache="x"}`: `cache_hit_ratio`);
/// none for the p95 and error-rate targets, whose inputs are whichever
/// metrics carry the latency and error roles (every rule is woken).
std::optional<std::vector<std::string>> alert_families(const std::string& metric);

/// The families memory pressure concerns (machine memory and the RSS).
std::vector<std::string> memory_families();

/// `healthy` (>= 80), `degraded` (>= 50) or `unhealthy`.
std::string health_status(double score);

} // namespace p21
