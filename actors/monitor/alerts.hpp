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

namespace p21 {

/// When an alert fires and when it clears.
struct alert_rule {
  alert_rule() = default;

  alert_rule(std::string name, std::string metric, bool above, double threshold,
             double clear_threshold, std::chrono::nanoseconds for_duration)
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
  std::chrono::nanoseconds for_duration{0};
  /// Whether `for_duration` is the alert's own (`for`), not `[monitor]
  /// alert_for` (which a reload may change).
  bool own_for = false;
  std::string severity = "warning";
  /// Commands run when it fires and when it resolves (argv; empty: none).
  std::vector<std::string> on_fire;
  std::vector<std::string> on_resolve;
};

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

/// `healthy` (>= 80), `degraded` (>= 50) or `unhealthy`.
std::string health_status(double score);

} // namespace p21
