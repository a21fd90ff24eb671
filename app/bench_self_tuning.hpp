#pragma once

// What `p21 bench --only self_tuning`'s phases share: a phase's script and
// target (bench_self_tuning.cpp runs each three ways; the rule 5 and rule 8
// phases are in bench_self_tuning_phases.cpp).

#include <functional>
#include <string>
#include <utility>

#include "p21/config.hpp"
#include "p21/optimizer.hpp"
#include "p21/runtime.hpp"

namespace p21::app {

struct phase {
  std::string name;
  std::string metric;
  double target;
  /// True when the metric must stay at or below `target`.
  bool at_most;
  /// Adjusts the node's config for this phase (called before each run).
  std::function<void(config&)> configure;
  /// Runs interval `i`'s workload; returns the metric and the setting the
  /// optimizer moves (for reversals).
  std::function<std::pair<double, double>(runtime&, size_t i)> interval;
  /// When set, the metric is this system value of the sample the
  /// optimizer's evaluation took (CPU over the interval).
  std::string summary_metric;
  /// A ramp: the load grows every interval (forecasts matter).
  bool ramp = false;
  /// Each interval lasts at least this long (a forecast horizon of
  /// `predict_intervals` x pace looks that many intervals ahead).
  timespan pace{0};
  /// The rule whose forecast the model run turns on, and how far ahead.
  std::string rule;
  double predict_intervals = 2;
};

/// The phase's rule acts at once: no `for`, no cooldown; moves by `step`.
inline void fast_rule(config& cfg, const std::string& name, double step) {
  auto& r = rule(cfg, name);
  r.for_duration = timespan{0};
  r.cooldown = timespan{0};
  r.step = step;
}

/// (g) rule 5: git commands whose working set outgrows the git cache.
phase git_cache_phase();

/// (h) rule 8: commands queue behind too few process slots, CPU free.
phase process_queue_phase();

/// (i) an application's actor (examples/worker_pool) tuned by a rule
/// declared in TOML (bench_self_tuning_custom.cpp).
phase custom_actor_phase();


} // namespace p21::app
