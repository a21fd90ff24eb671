#pragma once

// An application's own optimization rule: a sensor (any metric the node
// exports, an application's actor's included) judged by the same gate as
// the nine built-in rules (threshold, clear threshold, `for`, cooldown), and
// the knobs (p21/knob.hpp) it sets when the gate fires. Register it before
// the runtime starts:
//
//   struct queue_wait_rule : p21::tuning_rule {
//     queue_wait_rule() : tuning_rule("queue_wait", settings()) {}
//     static p21::rule_config settings() {
//       p21::rule_config rc;
//       rc.threshold = 0.050;       // p95 above 50 ms fires
//       rc.clear_threshold = 0.020; // back below 20 ms clears
//       rc.for_duration = std::chrono::seconds{2};
//       rc.cooldown = std::chrono::seconds{10};
//       return rc;
//     }
//     std::optional<double> measure(const p21::rule_view& v) override {
//       return v.quantile("myapp_queue_wait_seconds", 0.95);
//     }
//     std::vector<p21::knob_action> act(const p21::rule_view&, double) override {
//       return {{"myapp.workers", double(workers_ += 2), "queue wait p95 too high"}};
//     }
//     int workers_ = 4;
//   };
//   cfg.get<p21::optimizer_config>().custom_rules.push_back(std::make_shared<queue_wait_rule>());
//
// The optimizer sends each action to the node's supervisor as
// `(set_knob_atom, knob, value)`; the owner's reply (the value it applied, or
// an error) lands in the optimizer's action log like every action's. A dry
// run only logs it. The rule runs on the optimizer's actor: `measure` and
// `act` must not block.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "p21/optimizer_config.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/sensor.hpp"

namespace p21 {

// The monitor's summary (p21/protocol/monitor.hpp); a rule that reads it
// includes that header.
struct performance_summary;

/// What a rule sees at one evaluation: the node's metrics now and at the
/// previous evaluation. Families are named as their `metric_def` declares
/// them (no `p21_` prefix, no `_total`).
class rule_view {
public:
  using clock = std::chrono::steady_clock;

  virtual ~rule_view() = default;

  virtual clock::time_point now() const = 0;

  /// Seconds since the previous evaluation; none at the first.
  virtual std::optional<double> interval() const = 0;

  /// The monitor's summary of this sample (health, system values, alerts).
  virtual const performance_summary& summary() const = 0;

  /// A counter's or gauge's value, summed over the series that match
  /// `labels`; none when no series does.
  virtual std::optional<double> metric(const std::string& family,
                                       const metric_labels& labels = {}) const = 0;

  /// The same at the previous evaluation.
  virtual std::optional<double> previous_metric(const std::string& family,
                                                const metric_labels& labels = {}) const = 0;

  /// A histogram's first series matching `labels` (cumulative), or null.
  virtual const histogram_summary* histogram(const std::string& family,
                                             const metric_labels& labels = {}) const = 0;

  /// The same at the previous evaluation, or null.
  virtual const histogram_summary* previous_histogram(const std::string& family,
                                                      const metric_labels& labels = {}) const = 0;

  /// What `s` selects (p21/sensor.hpp); none when no series matches or,
  /// for a rate, mean or ratio, before the second evaluation or without
  /// traffic in the interval.
  std::optional<double> read(const sensor& s) const;

  /// Knob `name`'s value as its owner answered the monitor's round this
  /// evaluation reads (`p21_knob_value`, p21/knob.hpp); none unless the rule
  /// lists it in `knobs_read`, or when the owner did not answer (down,
  /// unknown knob).
  virtual std::optional<double> knob(const std::string& name) const = 0;

  /// The `q` quantile (0.5, 0.95 or 0.99) of a histogram's matching series
  /// since it started.
  std::optional<double> quantile(const std::string& family, double q,
                                 const metric_labels& labels = {}) const {
    auto h = histogram(family, labels);
    if (!h || h->count == 0)
      return std::nullopt;
    return q <= 0.5 ? h->p50 : q >= 0.99 ? h->p99 : h->p95;
  }

  /// A counter's increase per second since the previous evaluation.
  std::optional<double> rate(const std::string& family, const metric_labels& labels = {}) const {
    auto now = metric(family, labels);
    auto before = previous_metric(family, labels);
    auto dt = interval();
    if (!now || !before || !dt || *dt <= 0 || *now < *before)
      return std::nullopt;
    return (*now - *before) / *dt;
  }

  /// Machine memory used (or the RSS's share of `memory_budget`) and CPU, %.
  virtual double memory_percent() const = 0;
  virtual double cpu_percent() const = 0;

  /// True while the built-in memory_pressure rule fires or memory is not
  /// back below its clear threshold: a rule that grows memory waits.
  virtual bool memory_tight() const = 0;
};

/// One action of a rule: set the knob `knob` (its declared name,
/// `myapp.workers`) to `value`; the owner clamps it into its bounds.
struct knob_action {
  std::string knob;
  double value = 0;
  /// Why, for the action log.
  std::string why = {};
};

/// An application's rule. `name` names it in the action log, in the
/// `rule` label of `p21_optimizer_actions_total` and in `set_rule`; it must
/// differ from the nine built-in rules' names and from other custom rules'
/// (a clash is refused when the optimizer starts).
class tuning_rule {
public:
  /// `settings` is the gate's: threshold, clear_threshold, for, cooldown,
  /// enabled (step and predict are the rule's own business). `fires_above`:
  /// the gate fires when the value is above the threshold, else below.
  tuning_rule(std::string name, rule_config settings, bool fires_above = true)
    : name_(std::move(name))
    , settings_(settings)
    , above_(fires_above) {}

  virtual ~tuning_rule() = default;

  const std::string& name() const noexcept { return name_; }
  const rule_config& settings() const noexcept { return settings_; }
  bool fires_above() const noexcept { return above_; }

  /// The value the gate judges this evaluation; none: nothing to judge
  /// (no traffic, say), and the gate keeps its state.
  virtual std::optional<double> measure(const rule_view& view) = 0;

  /// The knobs whose values `rule_view::knob` should hold (the monitor reads
  /// every knob's value from its owner each round).
  virtual std::vector<std::string> knobs_read() const { return {}; }

  /// The sensors `measure` reads. An alert on one of their families (or
  /// memory pressure, on a memory family) runs the rule at once instead of
  /// at the next `optimization_interval`; none (the default): every such
  /// wake-up runs it.
  virtual std::vector<sensor> sensors() const { return {}; }

  /// Called when the gate fires (past the threshold for `for`, outside the
  /// cooldown) with the value measured: the knobs to set. Returning none
  /// does not start the cooldown.
  virtual std::vector<knob_action> act(const rule_view& view, double value) = 0;

private:
  std::string name_;
  rule_config settings_;
  bool above_;
};

} // namespace p21
