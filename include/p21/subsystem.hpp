#pragma once

// How a subsystem plugs into the runtime. The runtime (framework/) knows no
// subsystem by name: it calls the hooks of the subsystems it is given, and
// the umbrella library `Perfect21::perfect21` gives it the standard ones
// (`p21/subsystems.hpp`). An application can write a subsystem of its own
// the same way.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "p21/fwd.hpp"
#include "p21/protocol/node.hpp"
#include "p21/supervisor.hpp"

namespace p21 {

/// What a runtime shows its components of itself: the monitor reads every
/// running component's metrics and the runtime's metrics registry, the
/// optimizer messages the components it tunes.
struct node_view {
  /// The components that are running now, by name; starts none.
  std::function<std::vector<std::pair<std::string, caf::actor>>()> running;
  /// The runtime's registry (`runtime::metrics()`).
  metrics_registry* registry = nullptr;
  /// The node actor: the log file, the memory-pressure handlers of
  /// `runtime::resources()` with the heap, and the state directory.
  node_actor node;
  /// The supervisor: `request(supervisor, t, unload_atom, name)` stops an
  /// unused lazy component until its next use (rule 4).
  caf::actor supervisor;
  /// When the node started (component times count from it).
  std::chrono::steady_clock::time_point epoch;
  /// Every component's start and use statistics.
  std::function<std::vector<component_stats>()> stats;
  /// Components that peers may use when a node publishes them, as the
  /// subsystems declared them (`subsystem::publishable`).
  std::vector<std::string> publishable;
};

/// One subsystem's registration: its config checks, message types,
/// components and what it lets peers use. Every hook may be empty.
struct subsystem {
  /// For messages and logs, e.g. "cache".
  std::string name;

  /// Announces its message types to CAF (they then also cross the wire).
  std::function<void(caf::actor_system_config&)> add_message_types;

  /// Loads what it needs into CAF's config before the actor system exists
  /// (the cluster loads the middleman here).
  std::function<void(const config&, caf::actor_system_config&)> configure_system;

  /// Declares its config sections, keys and cross-key checks.
  std::function<void(config_schema&)> declare_config;

  /// Its components for `cfg`. `view` is null outside a runtime (`p21
  /// check` only resolves the start order).
  std::function<std::vector<child_spec>(const config&, std::shared_ptr<const node_view>)>
      components;

  /// Names of its components that a node may publish to peers.
  std::function<std::vector<std::string>(const config&)> publishable;

  /// Runs once every subsystem's components exist, before start order is
  /// resolved: the cluster makes the components it publishes critical.
  std::function<void(const config&, std::vector<child_spec>&)> adjust_components;
};

/// The components the given subsystems contribute for `cfg`, plus `extra`,
/// with `[components.NAME]` applied, in start order. Throws `config_error`
/// for an unknown name, a missing dependency or a cycle.
std::vector<child_spec> resolve_components(const config& cfg,
                                           const std::vector<subsystem>& subsystems,
                                           std::vector<child_spec> extra,
                                           std::shared_ptr<node_view> view);

} // namespace p21
