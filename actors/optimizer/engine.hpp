#pragma once

// The optimizer's decision logic, internal to actors/optimizer: the rules'
// gates, the snapshot the engine reads and the decisions it returns. The
// engine holds no actors and takes time as input, so every rule is tested
// without an actor system; the optimizer actor (optimizer_actor.cpp) feeds
// it and turns each decision into a message to the resource's owner.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/message.hpp>

#include "models.hpp"
#include "p21/config.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/subsystem.hpp"

namespace p21 {

/// A rule's enter/clear/for/cooldown machinery. Fires once the value has
/// been past `threshold` for `for_duration`; stays firing until it is back
/// past `clear_threshold`; while firing, may act once per `cooldown`.
class rule_gate {
public:
  using clock = std::chrono::steady_clock;

  rule_gate(rule_config cfg, bool above)
    : cfg_(cfg)
    , above_(above) {}

  /// Feeds one value; true when the rule should act now.
  bool observe(double value, clock::time_point now);

  /// Records that the rule acted (starts the cooldown).
  void acted(clock::time_point now) { last_action_ = now; }

  bool firing() const noexcept { return firing_; }
  /// The last value observed, if any.
  std::optional<double> last_value() const noexcept { return last_value_; }
  const rule_config& settings() const noexcept { return cfg_; }
  void settings(const rule_config& cfg) { cfg_ = cfg; }

private:
  rule_config cfg_;
  bool above_;
  bool firing_ = false;
  std::optional<clock::time_point> pending_since_;
  std::optional<clock::time_point> last_action_;
  std::optional<double> last_value_;
};

/// The nine built-in rules, in the order they run (config_keys.cpp maps
/// their config names to these, once).
enum class rule_id {
  memory_pressure,
  cache_hit_rate,
  connection_pool,
  lazy_loading,
  git_cache,
  cpu_usage,
  disk_usage,
  parallel_efficiency,
  response_time,
};

/// A rule's config name (`[optimizer.rules.NAME]`).
const std::string& rule_name(rule_id id);

/// The rule a config name names, if any.
std::optional<rule_id> find_rule_id(const std::string& name);

/// What is wrong with an application's rules (null, unnamed, or named as
/// a built-in or another custom rule); empty when nothing is.
std::string custom_rules_problem(const optimizer_config& oc);

/// Whether a rule fires when its metric is above its threshold (else
/// below); from the rule table in config_keys.cpp.
bool rule_fires_above(rule_id id);

/// What the optimizer sees of the node at one evaluation. Counters are
/// cumulative; the engine takes differences between evaluations.
struct node_snapshot {
  std::chrono::steady_clock::time_point now;
  /// Machine memory used, and the process's RSS over `memory_budget`, in %.
  double memory_percent = 0;
  double cpu_percent = 0;
  /// CPU of the node's child processes that ended since the monitor's
  /// last sample (the subprocess pool's commands), % of the machine; none
  /// when the monitor does not know it.
  std::optional<double> children_cpu_percent;
  std::map<std::string, double> disk_percent;
  struct cache_view {
    std::string component;
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
    /// Misses on recently evicted keys (the cache's ghost list).
    uint64_t capacity_misses = 0;
    uint64_t max_entries = 0;
    uint64_t max_bytes = 0;
    uint64_t entries = 0;
    uint64_t bytes = 0;
    /// Ghost hits by depth (`cache_stats::ghost_hit_depths`), cumulative.
    std::vector<uint64_t> ghost_hit_depths = {};
    uint64_t load_successes = 0;
    caf::timespan load_time{0};
  };

  std::vector<cache_view> caches;
  struct db_view {
    uint64_t waiting = 0;
    uint64_t idle = 0;
    uint64_t timeouts = 0;
    /// Overflow connections opened so far (demand beyond pool_size).
    uint64_t overflow_opened = 0;
    /// Most connections in use at once since the previous snapshot.
    uint64_t peak_in_use = 0;
    /// Time to get a connection, and time holding it, cumulative (seconds).
    histogram_summary acquire_time = {};
    histogram_summary query_time = {};
  };
  std::optional<db_view> db;
  struct proc_view {
    uint64_t max_processes = 0;
    uint64_t queued = 0;
    caf::timespan busy_time{0};
    caf::timespan slot_time{0};
    uint64_t git_hits = 0;
    uint64_t git_misses = 0;
    uint64_t git_capacity = 0;
    std::vector<uint64_t> git_ghost_hit_depths = {};
    /// Command wall time and waits for a slot, cumulative (seconds).
    histogram_summary duration = {};
    histogram_summary queue_time = {};
  };
  std::optional<proc_view> proc;
  /// CPUs the machine percentages are of (rule 6's model).
  unsigned cpus = 1;
  /// The process's RSS and `memory_budget` (0: none), for the models that
  /// keep growth within the budget.
  uint64_t rss_bytes = 0;
  uint64_t memory_budget = 0;
  /// Components and how soon after start they were first used.
  std::map<std::string, std::optional<timespan>> first_use;
  /// Lazy components that are running, and how long since their last use
  /// (or start, if never used).
  std::map<std::string, timespan> idle_for;
  /// The monitor's summary and every exported metric of this sample, for an
  /// application's rules (p21/rule.hpp); null when not known.
  std::shared_ptr<const performance_summary> summary;
  std::shared_ptr<const metric_set> metrics;
  /// The knobs the rules read (`optimizer_engine::knobs_read`), as their
  /// owners answered the monitor's round behind this snapshot; a knob whose
  /// owner did not answer is absent.
  std::map<std::string, double> knobs;
};

/// The snapshot's subsystem and system parts, from the monitor's metrics of
/// one sample: the system values read through sensors from the families
/// the monitor declares (`monitor_metrics`: CPU, memory, RSS, children's
/// CPU, disks), and the subsystems' typed stats by component
/// (`metric_set::stats`: `cache_stats`, `db_pool_stats`,
/// `subprocess_stats`; other types are ignored). A positive
/// `memory_budget` raises `memory_percent` to the RSS's share of it. The
/// values of `knobs` come from the monitor's `p21_knob_value` gauges. Keeps
/// `sum` and `m` for an application's rules; leaves `now` to the caller.
node_snapshot make_snapshot(const performance_summary& sum, const metric_set& m,
                            uint64_t memory_budget = 0,
                            const std::vector<std::string>& knobs = {});

/// The components' first use since start and, for the lazy ones running,
/// how long they have been idle at `now` (rule 4's inputs).
void add_components(node_snapshot& s, const node_view& view,
                    std::chrono::steady_clock::time_point now);

/// One action the optimizer decided on.
struct decision {
  enum kind_t {
    shrink_cache,         // target: cache component, arg: fraction
    resize_cache,         // target: cache component, arg: entries
    release_memory,       // target: db_pool
    set_pool_size,        // target: db_pool, arg: connections
    resize_git_cache,     // target: subprocess, arg: entries
    set_max_processes,    // target: subprocess, arg: processes
    checkpoint,           // target: db_pool
    vacuum,               // target: db_pool
    preload,              // target: component to start early next time (node actor)
    signal_pressure,      // target: pressure handlers and the heap (node actor), arg: fraction
    set_monitor_interval, // target: monitor, arg: seconds
    unload,               // target: an unused lazy component
    rotate_logs,          // target: the log file (node actor)
    set_knob,             // target: a knob's name (p21/knob.hpp), arg: its value
  };
  std::string rule;
  kind_t kind;
  std::string target;
  double arg = 0;
  /// The rule's metric when it decided.
  double value = 0;
  /// resize_cache: the byte capacity to keep.
  uint64_t bytes = 0;
  /// The model or forecast behind the size, for the action log; empty for a
  /// fixed step.
  std::string why = {};
  std::string describe() const;
};

class engine_rule;
class rule_context;

/// What a forecast is for, which decides the side its margin goes to.
enum class forecast_use {
  /// Firing a costly action early: the forecast must cross the threshold
  /// by the residual margin (times the caution) to count.
  trigger,
  /// Sizing a cheap capacity (connections) for the demand ahead: sized
  /// for the top of the band, the forecast plus that margin, so that a
  /// noisy or missed forecast errs toward a connection too many rather
  /// than a read that waits.
  capacity,
};

/// What the rules share across evaluations: the values they move as the
/// engine last set them (a rule's next step starts there), and what one
/// rule tells the rules after it in the same evaluation.
struct tuning_state {
  uint64_t pool_size = 0;
  std::optional<std::chrono::steady_clock::time_point> pool_changed;
  uint64_t max_processes = 0;
  /// Rule 8's last choice: rule 6 restores up to it.
  std::optional<uint64_t> restore_target;
  /// Rule 6: one below the level at which CPU last overloaded; restores stop
  /// there (no oscillation between two levels), forgotten after a calm spell.
  std::optional<uint64_t> cpu_ceiling;
  size_t cpu_calm = 0;
  /// Rule 6 also stretches the monitor's sampling (background work).
  timespan monitor_interval{0};
  std::optional<uint64_t> git_capacity;
  /// Rule 4's learned preload list.
  std::vector<std::string> preload;
  /// Rule 2: a growth waiting to prove itself, by cache.
  struct growth {
    uint64_t old_entries;
    double rate_before;
  };
  std::map<std::string, growth> growths;

  // One evaluation's order, reset at its start:
  /// Rule 1 fires or memory is above its clear threshold: rules that grow
  /// memory (2, 5, 9, an application's) wait.
  bool memory_tight = false;
  /// Rule 6 moved max_processes (or is firing): rule 8 waits.
  bool cpu_moved = false;
  /// Rule 6 or 8 moved max_processes: rule 9 does not.
  bool procs_moved = false;
};

/// The rules' decision logic: the nine built-in rules (rules/*.cpp) in
/// priority order, then an application's (`optimizer_config::custom_rules`).
/// In "model" mode (`[optimizer] mode`) a rule that sizes something jumps to
/// what its model computes; in "fixed" mode it moves by its `step`. Either
/// way, a rule with `predict` may act on its metric's forecast.
class optimizer_engine {
public:
  /// `cfg` supplies the rules' settings and the subsystems' configured
  /// sizes (the bounds that steps move within). Throws
  /// `std::invalid_argument` for a custom rule that is null, unnamed, or
  /// named as another rule.
  explicit optimizer_engine(const config& cfg);
  ~optimizer_engine();

  /// The decisions for `now`; at most one per rule and target. Rules that
  /// move memory are ordered: while memory_pressure fires, cache_hit_rate
  /// and git_cache do not grow anything. `woken`: a wake-up's metric
  /// families (`metric_family_key`; an alert's, memory pressure's) run only
  /// the rules that read one of them, and memory_pressure and cpu_usage,
  /// whose verdicts the rules after them follow; none (the timer,
  /// `evaluate`): every rule. Each rule measures its windows from the last
  /// evaluation it ran in, so a rule a wake-up skipped loses no interval.
  std::vector<decision> evaluate(const node_snapshot& now,
                                 const std::optional<std::vector<std::string>>& woken = {});

  /// Replaces one rule's settings at run time; false for an unknown rule.
  bool set_rule(const std::string& name, const rule_config& cfg);

  /// Takes a reloaded config: the subsystems' sizes it bounds steps by and
  /// reasons from (a `pool_size` or `max_processes` the reload changed is
  /// the current value from now on, so no later step undoes it), the mode
  /// and the monitor's interval. Rule settings change through `set_rule`;
  /// the custom rules stay those the engine was built with.
  void reconfigure(const config& now);

  /// The metric a rule last saw for a decision's target (for the "after"
  /// value of an action); none for rules without a gate.
  std::optional<double> last_value(const decision& d) const;

  /// The knobs the rules read: the optimizer passes their values from the
  /// monitor's metrics (`p21_knob_value`) in `node_snapshot::knobs`.
  std::vector<std::string> knobs_read() const;

  /// The learned preload list (rule 4).
  const std::vector<std::string>& preload() const noexcept { return state_.preload; }

  /// What the rules move, as the engine last set it.
  const tuning_state& state() const noexcept { return state_; }

  /// Forecasts that did not come true, by rule (cumulative).
  const std::map<std::string, uint64_t>& forecast_misses() const noexcept {
    return forecast_misses_;
  }

  /// How much a rule's forecasts are discounted: 1, doubled per miss.
  double caution(const std::string& rule, const std::string& target) const;

private:
  friend class rule_context;

  rule_gate& gate(const engine_rule& rule, const std::string& target);

  /// Feeds `value` to the forecast of `rule`/`target` and judges its last
  /// one-step forecast; returns where the metric is heading within the
  /// rule's `predict` horizon, with the residual margin (times the rule's
  /// caution) on the side `use` says, or none (off, not ready, or disabled
  /// after misses).
  std::optional<double> foresee(const engine_rule& rule, const std::string& target, double value,
                                std::chrono::steady_clock::time_point now,
                                forecast_use use = forecast_use::trigger);
  /// The rule acted: its own action moves the metric, so its forecast
  /// takes the next value as its level (and is not judged on the move).
  void forecast_acted(const std::string& rule, const std::string& target);

  bool model() const { return cfg_.get<optimizer_config>().mode != "fixed"; }

  /// Makes the declared rules (`[optimizer.rules.NAME]` with a sensor)
  /// those of `rules`: a new one is added, a changed one rebuilt (its gate
  /// and forecast afresh), a removed one dropped, an unchanged one kept.
  void adopt_declared_rules(const std::map<std::string, rule_config>& rules);

  config cfg_;
  /// The built-in rules in priority order, then the custom ones.
  std::vector<std::unique_ptr<engine_rule>> rules_;
  std::map<std::pair<std::string, std::string>, rule_gate> gates_;
  /// The latest snapshot, and by rule the one it last ran with.
  std::shared_ptr<const node_snapshot> last_;
  std::map<std::string, std::shared_ptr<const node_snapshot>> previous_;
  tuning_state state_;
  struct forecast_state {
    holt_forecast holt;
    double caution = 1;
    uint64_t misses = 0;
    /// Prediction is off until then after repeated misses.
    std::optional<std::chrono::steady_clock::time_point> off_until;
  };
  std::map<std::pair<std::string, std::string>, forecast_state> forecasts_;
  std::map<std::string, uint64_t> forecast_misses_;
};

/// Copies the declared rules of `now` into `kept` (the rules a running
/// optimizer keeps across a reload): added, replaced, and those `now` no
/// longer has removed.
void merge_declared_rules(std::map<std::string, rule_config>& kept,
                          const std::map<std::string, rule_config>& now);

/// Sends a reloaded config to the running optimizer `optimizer` (its
/// engine's `reconfigure`) and waits for it, within `ctx`'s timeout.
/// optimizer_actor.cpp; subsystem.cpp's reload calls it.
bool send_reloaded_config(const reload_context& ctx, const caf::actor& optimizer,
                          const config& now);

} // namespace p21
