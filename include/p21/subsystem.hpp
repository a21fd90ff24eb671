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
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "p21/fwd.hpp"
#include "p21/protocol/node.hpp"
#include "p21/request.hpp"
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
  /// The profile of component `name` for `spawn_profiled`; null while
  /// `[runtime] profiling` is off.
  profile_factory profile;
  /// Components that peers may use when a node publishes them, as the
  /// subsystems declared them (`subsystem::publishable`).
  std::vector<std::string> publishable;
  /// The node's config as the latest reload left it, the start-up one until
  /// then. A start function reads it each time it runs (never a copy taken
  /// when the component was declared), so that a lazy component first
  /// started after a reload, and one the supervisor restarts, run with the
  /// reloaded live keys. Keys that need a restart keep their start-up
  /// values in it until the node restarts.
  config_source settings;
  /// `runtime::resources()`: the built-in pools register what they hold
  /// (connections, processes, cache bytes) here.
  resource_manager* resources = nullptr;
};

struct reload_context;

/// What a reload did: the keys a running node adopted, those it keeps until
/// a restart, and those a subsystem could not apply (kept as they were).
struct reload_report {
  /// Changed keys now in effect (dotted paths, as `p21::diff` names them).
  std::vector<std::string> applied;
  /// Changed keys left as they were until the node restarts: keys the
  /// schema does not declare live (the database file, a cache's shards, the
  /// listen address). A component the supervisor restarts keeps their old
  /// values too, like the rest of the node: they take effect together, at
  /// the node's next start.
  std::vector<std::string> restart_needed;
  /// `KEY: why` for live keys whose subsystem refused or could not reach
  /// its actor; left as they were.
  std::vector<std::string> failed;

  bool changed() const { return !applied.empty(); }

  /// Moves `key` from `applied` to `restart_needed`: a live key the
  /// subsystem finds it cannot change on this running node after all. (A
  /// component that is not running is no reason: it starts from
  /// `node_view::settings`.)
  void defer(const std::string& key);

  /// Moves `key` from `applied` to `failed`, with the reason.
  void fail(const std::string& key, const std::string& why);

  /// Whether `key`, or a key under it (`prefix.`), was applied.
  bool touches(const std::string& prefix) const;

  /// Sends one message for `key` if it was changed: `ask(ctx)` returns
  /// the reply or an error. A component that is not running (lazy and not
  /// used yet, or unloaded) leaves the key applied: its start function
  /// reads `node_view::settings`, so it starts with the new value.
  template <class R, class Ask>
  void apply(const std::string& key, const reload_context& ctx, const std::string& component,
             Ask ask);

  /// One line: "applied A, B; restart needed for C; failed: D".
  std::string describe() const;
};

/// What a subsystem's `reload` hook may use: the running components and a
/// way to message them and wait (the hook runs on the caller's thread of
/// `runtime::reload`, never on a scheduler thread).
struct reload_context {
  const node_view* view = nullptr;
  caf::actor_system* system = nullptr;
  /// Bound of each request.
  timespan timeout{std::chrono::seconds{10}};

  /// The running component `name`, or an invalid handle.
  caf::actor running(const std::string& name) const;

  /// Sends `xs...` to `target` and waits at most `timeout` for a reply `R`.
  template <class R, class Handle, class... Ts>
  caf::expected<R> request(const Handle& target, Ts&&... xs) const {
    return blocking_request<R>(*system, target, timeout, std::forward<Ts>(xs)...);
  }
};

template <class R, class Ask>
void reload_report::apply(const std::string& key, const reload_context& ctx,
                          const std::string& component, Ask ask) {
  if (!touches(key))
    return;
  auto target = ctx.running(component);
  if (!target)
    return; // it starts from the current config (node_view::settings)
  caf::expected<R> r = ask(target);
  if (!r)
    fail(key, caf::to_string(r.error()));
}

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

  /// Directories it keeps files in for `cfg` (the database file's, say).
  /// The runtime creates them at start; the first one any subsystem names is
  /// the node's state directory unless `[runtime] state_dir` says otherwise.
  std::function<std::vector<std::string>(const config&)> data_directories;

  /// Names of its components that a node may publish to peers.
  std::function<std::vector<std::string>(const config&)> publishable;

  /// Runs once every subsystem's components exist, before start order is
  /// resolved: the cluster makes the components it publishes critical.
  std::function<void(const config&, std::vector<child_spec>&)> adjust_components;

  /// Applies a reloaded config to its running components: `now` is `old`
  /// with every changed live key's new value. It messages its actors, and
  /// calls `report.defer` or `report.fail` for a key it could not apply;
  /// the keys it leaves in `report.applied` are what the node now runs with.
  /// `node_view::settings` already returns `now` when it runs, and every
  /// start that began before has finished: a component it does not find
  /// running starts (or restarts) with `now`'s values, so its keys count
  /// as applied, provided its start function reads `node_view::settings`.
  std::function<void(const config& old, const config& now, const reload_context& ctx,
                     reload_report& report)>
      reload;

  /// Runs after every subsystem's `reload` with the final report: the
  /// monitor lists the reload in `/events`, the optimizer in its log.
  std::function<void(const reload_report& report, const reload_context& ctx)> reloaded;
};

/// The components the given subsystems contribute for `cfg`, plus `extra`,
/// with `[components.NAME]` applied, in start order. Throws `config_error`
/// for an unknown name, a missing dependency or a cycle.
std::vector<child_spec> resolve_components(const config& cfg,
                                           const std::vector<subsystem>& subsystems,
                                           std::vector<child_spec> extra,
                                           std::shared_ptr<node_view> view);

} // namespace p21
