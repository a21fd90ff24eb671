#pragma once

// The optimizer's typed interface: the nine rules, evaluated every
// `optimization_interval` or on demand, re-tunable at run time.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// Evaluate soon, for a reason (an alert fired, memory pressure): the
/// optimizer runs at most one such round per second.
using evaluate_now_atom = caf::atom_constant<caf::atom("evalnow")>;

/// The metrics the optimizer reports (the first two with label `rule`).
namespace optimizer_metrics {

inline constexpr metric_def actions{"optimizer_actions", "Actions the optimizer's rules took.",
                                    metric_kind::counter};
inline constexpr metric_def dry_run_actions{
    "optimizer_dry_run_actions", "Actions the optimizer's rules would have taken (dry run).",
    metric_kind::counter};
inline constexpr metric_def evaluations{"optimizer_evaluations", "Evaluations of the nine rules.",
                                        metric_kind::counter};
inline constexpr metric_def forecast_misses{
    "optimizer_forecast_misses",
    "Forecasts of a rule's metric that did not come true (the rule grows more cautious).",
    metric_kind::counter};
inline constexpr metric_def pressure_reaction_seconds{
    "optimizer_pressure_reaction_seconds",
    "From the sample that showed memory pressure to the node actor's reply: shrink messages "
    "sent, pressure handlers run, heap trimmed.",
    metric_kind::gauge, "seconds"};

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {actions, dry_run_actions, evaluations, forecast_misses,
                                     pressure_reaction_seconds};

} // namespace optimizer_metrics

/// One decision of the optimizer, kept in its audit log.
struct optimizer_action {
  caf::timestamp time;
  std::string rule;
  std::string target;
  std::string action;
  double value_before = 0;
  double value_after = 0;
  /// False in dry-run mode: the action was only logged.
  bool applied = false;
  std::string reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, optimizer_action& x) {
  return f(caf::meta::type_name("p21.optimizer_action"), x.time, x.rule, x.target, x.action,
           x.value_before, x.value_after, x.applied, x.reply);
}

/// Run-time settings of one rule (mirrors `[optimizer.rules.NAME]`).
struct rule_settings {
  std::string name;
  bool enabled = true;
  double threshold = 0;
  double clear_threshold = 0;
  caf::timespan for_duration{0};
  caf::timespan cooldown{0};
  /// The rule's `step`; 0 keeps the current one.
  double step = 0;
  /// The rule's `predict` horizon; 0: forecasts off.
  caf::timespan predict{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rule_settings& x) {
  return f(caf::meta::type_name("p21.rule_settings"), x.name, x.enabled, x.threshold,
           x.clear_threshold, x.for_duration, x.cooldown, x.step, x.predict);
}

/// The optimizer actor. `evaluate` runs the rules now and answers with what
/// they did; `events` returns logged actions with a sequence number of at
/// least its argument (the log starts at 0), oldest first. `set_interval`
/// changes `optimization_interval` from the next round on; `put` appends an
/// entry to the log that no rule made (a config reload, say). `evaluate_now`
/// wakes the rules before their interval (the monitor sends it when an
/// alert fires or resolves and on memory pressure), rate-limited: with the
/// metric families (`metric_family_key`) the change concerns, only the rules
/// that read one of them (and the guards memory_pressure and cpu_usage);
/// without, every rule.
using optimizer_actor =
    caf::typed_actor<caf::replies_to<evaluate_atom>::with<std::vector<optimizer_action>>,
                     caf::reacts_to<evaluate_now_atom, std::string>,
                     caf::reacts_to<evaluate_now_atom, std::string, std::vector<std::string>>,
                     caf::replies_to<set_rule_atom, rule_settings>::with<bool>,
                     caf::replies_to<dry_run_atom, bool>::with<bool>,
                     caf::replies_to<set_interval_atom, caf::timespan>::with<caf::timespan>,
                     caf::reacts_to<put_atom, optimizer_action>,
                     caf::replies_to<events_atom, uint64_t>::with<std::vector<optimizer_action>>,
                     caf::replies_to<metrics_atom>::with<metric_set>>;

} // namespace p21
