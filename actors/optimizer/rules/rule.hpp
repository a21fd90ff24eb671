#pragma once

// What every rule of the engine implements, and the context one evaluation
// gives it: the snapshot and the previous one, its gates and forecasts, the
// mode, the rules' settings and the tuning state the rules share. Internal
// to actors/optimizer; an application's rule implements p21/rule.hpp, which
// custom.cpp adapts to this.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../engine.hpp"
#include "p21/sensor.hpp"

namespace p21 {

class tuning_rule;

/// One rule of the engine: a built-in one (with its `rule_id`) or an
/// application's, adapted.
class engine_rule {
public:
  explicit engine_rule(rule_id id)
    : id_(id)
    , name_(rule_name(id))
    , above_(rule_fires_above(id)) {}

  engine_rule(std::string name, bool fires_above)
    : name_(std::move(name))
    , above_(fires_above) {}

  virtual ~engine_rule() = default;

  /// None for an application's rule.
  std::optional<rule_id> id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  /// Whether its gate fires above its threshold (else below).
  bool fires_above() const noexcept { return above_; }

  /// The target of the gate whose last value is a decision's "after" value;
  /// none when the rule has no gate for it.
  virtual std::optional<std::string> gate_target(const decision&) const { return std::nullopt; }

  /// Its settings when the config has none (an application's rule).
  virtual std::optional<rule_config> own_settings() const { return std::nullopt; }

  /// The knobs whose values the snapshot carries (`node_snapshot::knobs`).
  virtual std::vector<std::string> knobs_read() const { return {}; }

  /// Whether it was declared in the config file (rebuilt on reload).
  virtual bool declared() const { return false; }

  /// The node's metrics it reads, as typed selectors. A wake-up (an alert
  /// that fired or resolved, memory pressure) names the metric families it
  /// concerns and runs the rules that read one of them (`woken_by`); the
  /// timer runs every rule.
  virtual std::vector<sensor> sensors() const { return {}; }

  /// Whether a wake-up for `families` (`metric_family_key` spellings) runs
  /// it: by default when one of its sensors reads one of them.
  virtual bool woken_by(const std::vector<std::string>& families) const;

  virtual std::vector<decision> evaluate(rule_context& ctx) = 0;

private:
  std::optional<rule_id> id_;
  std::string name_;
  bool above_;
};

/// One rule's view of one evaluation.
class rule_context {
public:
  using time_point = std::chrono::steady_clock::time_point;

  rule_context(optimizer_engine& engine, const engine_rule& rule, const node_snapshot& now,
               const node_snapshot* previous)
    : snapshot(now)
    , previous(previous)
    , state(engine.state_)
    , engine_(engine)
    , rule_(rule) {}

  const node_snapshot& snapshot;
  /// None at the first evaluation (counters then count from the start).
  const node_snapshot* previous;
  tuning_state& state;

  time_point now() const { return snapshot.now; }
  const config& cfg() const { return engine_.cfg_; }
  /// "model" mode (else "fixed").
  bool model() const { return engine_.model(); }

  /// This rule's settings, and a built-in rule's.
  const rule_config& settings() const {
    return engine_.cfg_.get<optimizer_config>().rules.at(rule_.name());
  }
  const rule_config& settings(rule_id id) const {
    return engine_.cfg_.get<optimizer_config>().rules.at(rule_name(id));
  }
  /// This rule's `predict`, for the log.
  std::string horizon() const { return format_duration(settings().predict); }

  /// This rule's gate for `target`.
  rule_gate& gate(const std::string& target = {}) { return engine_.gate(rule_, target); }

  /// Where this rule's metric for `target` is heading (see
  /// `optimizer_engine::foresee`).
  std::optional<double> foresee(const std::string& target, double value,
                                forecast_use use = forecast_use::trigger) {
    return engine_.foresee(rule_, target, value, now(), use);
  }
  void forecast_acted(const std::string& target = {}) {
    engine_.forecast_acted(rule_.name(), target);
  }

  /// A decision of this rule.
  decision decide(decision::kind_t kind, std::string target, double arg, double value,
                  uint64_t bytes = 0, std::string why = {}) const {
    return decision{rule_.name(), kind, std::move(target), arg, value, bytes, std::move(why)};
  }

private:
  optimizer_engine& engine_;
  const engine_rule& rule_;
};

// The built-in rules, one file each in rules/.
std::unique_ptr<engine_rule> make_memory_pressure_rule();
std::unique_ptr<engine_rule> make_cache_hit_rate_rule();
std::unique_ptr<engine_rule> make_connection_pool_rule();
std::unique_ptr<engine_rule> make_lazy_loading_rule();
std::unique_ptr<engine_rule> make_git_cache_rule();
std::unique_ptr<engine_rule> make_cpu_usage_rule();
std::unique_ptr<engine_rule> make_disk_usage_rule();
std::unique_ptr<engine_rule> make_parallel_efficiency_rule();
std::unique_ptr<engine_rule> make_response_time_rule();

/// An application's rule (custom.cpp).
std::unique_ptr<engine_rule> make_custom_rule(std::shared_ptr<tuning_rule> rule);

/// A rule declared in the config file (declared.cpp); throws
/// `std::invalid_argument` for a sensor the config check would refuse.
std::unique_ptr<engine_rule> make_declared_rule(const std::string& name, const rule_config& rc);

} // namespace p21
