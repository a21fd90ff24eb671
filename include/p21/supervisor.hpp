#pragma once

// Supervision in Erlang/OTP's terms, for CAF actors: child specs, restart
// policies, strategies and restart intensity.

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "p21/config.hpp"
#include "p21/knob.hpp"
#include "p21/shared_objects.hpp"

namespace p21 {

/// When a supervisor restarts a child that exited.
enum class restart {
  /// Always.
  permanent,
  /// Only after an abnormal exit.
  transient,
  /// Never.
  temporary,
};

std::string to_string(restart x);

/// How to start and supervise one child (a subsystem or a user actor). Also
/// a component: `prio` and `depends_on` decide when it starts.
struct child_spec {
  std::string name;
  /// Spawns the child; called again for each restart. A child that cannot
  /// start returns an error (the supervisor reports it), never throws.
  std::function<caf::expected<caf::actor>(caf::actor_system&)> start;
  restart policy = restart::permanent;
  /// How long the child may take to stop before it is killed.
  timespan shutdown_timeout = std::chrono::seconds{5};
  /// `critical` starts with the runtime; the others start on first use.
  priority prio = priority::critical;
  std::vector<std::string> depends_on;
  /// What the component shares with its handles (`runtime::shared_object`).
  shared_objects shared{};
  /// The knobs its actor owns: it answers `get_knob_atom` and
  /// `set_knob_atom` for each (`p21/knob.hpp`), and the supervisor routes
  /// both to it by the knob's name.
  knob_specs knobs{};
};

/// Per component: when it started, how long that took, first use and use
/// count (rule 4 reads these).
struct component_stats {
  std::string name;
  priority prio = priority::normal;
  bool running = false;
  uint64_t starts = 0;
  uint64_t restarts = 0;
  /// Since the runtime started.
  std::optional<timespan> start_time;
  timespan load_duration{0};
  std::optional<timespan> first_use;
  /// Since the node's start, the latest use (through `actor_of` or a handle).
  std::optional<timespan> last_use;
  uint64_t use_count = 0;
  /// Stopped for being unused (rule 4); the next use starts it again.
  bool unloaded = false;
  /// The knobs it declares; for a nested supervisor, those of every child
  /// under it.
  knob_specs knobs;
};

/// The restart decisions of a supervisor, as plain logic: which children to
/// stop and start after an exit, after what delay, or whether to escalate.
class supervision_policy {
public:
  using clock = std::chrono::steady_clock;

  struct decision {
    enum kind_t { ignore, restart, escalate } kind = ignore;
    /// Children (by position in start order) to stop first, in this order.
    std::vector<size_t> stop;
    /// Children to start again, in this order.
    std::vector<size_t> start;
    /// Backoff before starting them.
    timespan delay{0};
  };

  supervision_policy(strategy s, size_t max_restarts, timespan period, timespan backoff_initial,
                     timespan backoff_max, uint64_t seed = std::random_device{}());

  /// Decides what follows the exit of child `index` out of `num_children`.
  /// `running[i]` says whether child i is up (only running siblings are
  /// stopped and restarted along with it). An exit another node caused
  /// (`counts` false) is restarted like any other but never counts toward
  /// the restart intensity: a peer must not be able to make a node give up.
  decision on_exit(size_t index, restart policy, bool abnormal, const std::vector<bool>& running,
                   clock::time_point now, bool counts = true);

private:
  strategy strategy_;
  size_t max_restarts_;
  timespan period_;
  timespan backoff_initial_;
  timespan backoff_max_;
  std::vector<clock::time_point> history_;
  std::mt19937_64 rng_;
};

/// Orders components for start-up: dependencies first, then by priority.
/// Throws `config_error` naming a missing dependency or the cycle.
std::vector<size_t> start_order(const std::vector<child_spec>& specs,
                                const std::string& config_file = {});

} // namespace p21
