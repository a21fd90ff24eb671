#pragma once

// `[optimizer]` and `[optimizer.rules.NAME]`, owned by the optimizer
// (actors/optimizer/config_keys.cpp declares their keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

class tuning_rule;

/// `[optimizer.rules.NAME]`: one of the nine optimization rules, or a rule
/// declared in the file (a NAME of its own, with `sensor` and `knob`).
struct rule_config {
  bool enabled = true;
  /// The value at which the rule enters its firing state.
  double threshold = 0;
  /// The value at which it leaves it again (hysteresis).
  double clear_threshold = 0;
  /// How long the condition must hold before the rule acts.
  timespan for_duration = std::chrono::seconds{0};
  /// Quiet time after acting.
  timespan cooldown = std::chrono::seconds{60};
  /// Bounded step of one action, a fraction in (0, 1]: how much a cache
  /// shrinks or grows, how far a pool or worker count moves per interval.
  double step = 0.25;
  /// How far ahead the rule may act on its metric's forecast (Holt's linear
  /// smoothing with a residual margin); zero: on the value alone.
  timespan predict = std::chrono::seconds{0};

  // A declared rule only (empty `sensor`: one of the nine). Its `threshold`
  // is `above = X` or `below = X`, and its `step` is the knob's change per
  // action in the knob's unit ("+2"), not a fraction.
  /// What the gate judges, in p21/sensor.hpp's text form.
  std::string sensor;
  /// Whether it fires above the threshold (`above`), else below (`below`).
  bool fires_above = true;
  /// The knob it sets (p21/knob.hpp): `myapp.workers`.
  std::string knob;
  /// "littles_law": the knob becomes arrivals x service / utilization (in
  /// "model" mode; "fixed" mode uses `step` or `scale` when set); empty:
  /// `step` or `scale`.
  std::string model;
  /// littles_law's inputs: arrivals per second and seconds of work per
  /// arrival, as sensors (`rate(myapp_jobs_total)`, `mean(myapp_job_seconds)`).
  std::string arrivals;
  std::string service;
  /// littles_law: the share of the knob the work should keep busy.
  double utilization = 0.8;
  /// littles_law, optional: the jobs queued now, a sensor
  /// (`myapp_queue_length`). Arrivals x service sizes the knob for the
  /// work still coming; the queue already there needs workers of its own,
  /// or the jobs queued before the action wait on into the next interval.
  std::string backlog;
  /// littles_law with `backlog`: the queued work (backlog x service) is
  /// done within this time by backlog x service / drain more workers; 0,
  /// or anything under one job's service time: a worker for every queued
  /// job, all started at once.
  timespan drain{0};
  /// Multiplies the knob per action (0: not used).
  double scale = 0;

  /// Whether this is a declared rule.
  bool declared() const noexcept { return !sensor.empty(); }
};

/// `[optimizer]`: how the rules size what they move.
struct optimizer_config {
  /// "model": a rule jumps to the size its model (miss-ratio curve, Little's
  /// law, CPU per command) computes; "fixed": it moves by `step` and waits.
  std::string mode = "model";
  /// `[optimizer.rules.NAME]`: the rules set in a file or in code; a rule
  /// not here runs with its defaults. A loaded config and a running node's
  /// have all of them. To change one in code, start from its defaults with
  /// `p21::rule(cfg, NAME)` (p21/optimizer.hpp).
  std::map<std::string, rule_config> rules;
  /// An application's own rules (p21/rule.hpp), evaluated after the nine
  /// with the same gates; set in code only, before the runtime starts.
  /// Copies of the config share the rule objects.
  std::vector<std::shared_ptr<tuning_rule>> custom_rules;
};

} // namespace p21
