#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/metrics.hpp"
#include "p21/request.hpp"
#include "p21/resources.hpp"
#include "p21/subsystem.hpp"
#include "p21/supervisor.hpp"

namespace p21 {

namespace detail {
struct subtree;
/// The standard subsystems; defined by p21/subsystems.hpp.
struct standard_set;
} // namespace detail

class child_handle;
class supervisor_handle;

/// A Perfect21 node inside your process: the CAF actor system, logging, the
/// supervisor and the components it starts. Constructing it starts the node;
/// destroying it (or `stop()`) shuts it down in phases with bounded time.
class runtime {
public:
  // -- constructors, destructors ------------------------------------------------

  /// Starts a node from `cfg` with the standard subsystems plus `components`.
  /// Throws `config_error` for a bad config, a missing dependency or a cycle,
  /// and `std::runtime_error` when a critical component fails to start.
  /// Needs p21/subsystems.hpp (the umbrella library `Perfect21::perfect21`,
  /// which knows the standard subsystems): `Standard` is only declared here,
  /// so a framework-only program that uses this constructor fails to
  /// compile, rather than to link.
  template <class Standard = detail::standard_set>
  explicit runtime(config cfg = {}, std::vector<child_spec> components = {})
    : runtime(std::move(cfg), Standard::subsystems(), std::move(components)) {}

  /// Starts a node with exactly `subsystems` plus `components`; the
  /// framework alone (`Perfect21::framework`) knows no other way.
  runtime(config cfg, std::vector<subsystem> subsystems, std::vector<child_spec> components = {});

  /// Stops the node (see `stop`).
  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // -- properties ---------------------------------------------------------------

  /// The CAF actor system; valid until the node has stopped.
  caf::actor_system& system();

  /// The effective configuration.
  const config& settings() const noexcept;

  /// The same as a snapshot any thread may keep while a reload replaces
  /// it: what a start function of your own (`add_component`,
  /// `spawn_supervised`) reads, so that a start or restart after a reload
  /// runs with the reloaded values (`node_view::settings` is the same).
  std::shared_ptr<const config> current_settings() const;

  /// True from construction until shutdown begins.
  bool accepting() const noexcept;

  /// The node's own metrics: register counters, gauges and histograms here
  /// and the monitor exports them (`/metrics`) with the subsystems' ones.
  metrics_registry& metrics() noexcept;

  /// What the node holds: register resources (or use a `p21::managed`
  /// scope) and memory-pressure handlers here. Unreleased resources are
  /// listed in the log when the node stops.
  resource_manager& resources() noexcept;

  // -- components ---------------------------------------------------------------

  /// The current actor of a component, starting it (and its dependencies) on
  /// first use. Errors: `not_found`, `unavailable` (down, restarting or
  /// shutting down).
  caf::expected<caf::actor> actor_of(const std::string& name);

  /// Stops a running lazy component until its next use (which starts it
  /// again); false when it is not running or a running component needs it.
  /// Critical components cannot be unloaded.
  caf::expected<bool> unload(const std::string& name);

  /// The running instance of `name`, without starting it or waiting: what
  /// code on a CAF thread may call. Errors: `not_found`, `unavailable`.
  caf::expected<caf::actor> running_actor_of(const std::string& name);

  /// `actor_of` for code on a CAF thread, never blocking it: `then` gets
  /// the running instance at once, or, for a lazy component not running
  /// (never started, or unloaded by rule 4), the instance the supervisor
  /// starts for it (a reply to `self` within `timeout`). Errors as
  /// `actor_of`. The non-blocking calls' retries use it.
  void actor_of_async(caf::event_based_actor* self, const std::string& name, timespan timeout,
                      std::function<void(caf::expected<caf::actor>)> then);

  /// One of the actors that send the non-blocking calls' requests
  /// (`p21/async.hpp`), round robin; null once shutdown began.
  caf::actor async_caller();

  /// Records a use of `name` that did not go through `actor_of` (a handle
  /// answering from a shared cache or a leased connection), so that it
  /// does not look unused.
  void note_use(const std::string& name);

  /// Same, as a typed handle.
  template <class Handle>
  caf::expected<Handle> actor_of(const std::string& name) {
    auto a = actor_of(name);
    if (!a)
      return a.error();
    return caf::actor_cast<Handle>(std::move(*a));
  }

  /// Registers a component after start. A `critical` one starts at once; the
  /// others on first use. Errors: a duplicate name, a missing dependency.
  caf::error add_component(child_spec spec);

  /// Starts a user actor under the node's supervisor (restarted per its
  /// policy) and returns its first instance.
  caf::expected<caf::actor> spawn_supervised(child_spec spec);

  /// A handle on component `name` that finds its current instance at each
  /// call (`actor_of`), so it keeps working after the component restarts.
  child_handle child(const std::string& name);

  /// Starts a nested supervisor, a component of the node named `name`, with
  /// its own restart strategy and intensity. Spawn your actors (or further
  /// supervisors) under it: when they exceed its restart intensity it gives
  /// up, stops them and exits. By default (`temporary`) the subtree then
  /// stays down and the node goes on: a crash loop in an application's
  /// actors ends at its own subtree, never at the node. With `permanent`
  /// the node's supervisor restarts the subtree under the node's
  /// `[supervisor]` intensity, and the node stops when that is exceeded.
  /// Errors: a duplicate name, `unavailable` while shutting down.
  caf::expected<supervisor_handle> spawn_supervisor(const std::string& name,
                                                    supervisor_config options = {},
                                                    restart policy = restart::temporary);

  /// Spawns an unsupervised actor; the node still stops it at shutdown.
  template <class... Ts>
  auto spawn(Ts&&... xs) {
    auto h = system().spawn(std::forward<Ts>(xs)...);
    track(caf::actor_cast<caf::actor_addr>(h));
    return h;
  }

  /// Start time, load duration, first use and use count of every component.
  std::vector<component_stats> components() const;

  /// Same for one component.
  std::optional<component_stats> component(const std::string& name) const;

  /// The object of type `T` that component `name` shares with its handles
  /// (`child_spec::shared`), or null; starts nothing and sends no message.
  template <class T>
  std::shared_ptr<T> shared_object(const std::string& name) const {
    return std::static_pointer_cast<T>(shared_object(name, std::type_index{typeid(T)}));
  }

  // -- knobs (`p21/knob.hpp`) ---------------------------------------------------

  /// Every knob the components declare, at any depth of nested supervisors.
  knob_specs knobs() const;

  /// The value of knob `name`, read from its owner now (a blocking call,
  /// bounded by `[runtime] request_timeout`). Errors: `not_found` (no
  /// component declares it), `unavailable` (its owner is down, restarting,
  /// or lazy and not started), `timeout`.
  caf::expected<double> knob(const std::string& name);

  /// Sets knob `name`; returns the value its owner applied (clamped into
  /// the knob's bounds, rounded for a count). Errors as for `knob`, and
  /// `invalid_argument` for NaN.
  caf::expected<double> set_knob(const std::string& name, double value);

  // -- blocking calls (from plain threads, never from inside an actor) ----------

  /// Sends `xs...` to the named component and waits at most `timeout` for a
  /// reply of type `R`. Errors are values: `unavailable`, `timeout`, or
  /// whatever the component replied.
  template <class R, class... Ts>
  caf::expected<R> call_for(const std::string& name, timespan timeout, Ts&&... xs) {
    auto target = actor_of(name);
    if (!target)
      return target.error();
    return request<R>(*target, timeout, std::forward<Ts>(xs)...);
  }

  /// `call_for` with `[runtime] request_timeout`.
  template <class R, class... Ts>
  caf::expected<R> call(const std::string& name, Ts&&... xs) {
    return call_for<R>(name, settings().runtime.request_timeout, std::forward<Ts>(xs)...);
  }

  /// Sends `xs...` to `target` and waits at most `timeout` for a reply of
  /// type `R`, using a pooled requester instead of a new `scoped_actor`.
  template <class R, class Handle, class... Ts>
  caf::expected<R> request(const Handle& target, timespan timeout, Ts&&... xs) {
    auto requester = borrow();
    if (!requester.self)
      return make_error(errc::unavailable, "the runtime is shutting down");
    auto result = blocking_request<R>(**requester.self, target, timeout, std::forward<Ts>(xs)...);
    // After a timeout a late reply would land in this requester's mailbox:
    // retire it rather than hand it to the next caller.
    if (!result && is(result.error(), errc::timeout))
      requester.retire = true;
    // A blocking actor in CAF 0.17 keeps every request's timeout message:
    // it fires after the reply came, lands in the mailbox, and no receive
    // ever takes it (cancelling the timeout does not stop it). The fault
    // soak measured ~170 bytes kept per call, for good; a requester
    // holding a few is replaced.
    if ((*requester.self)->mailbox().size() > stale_messages_max)
      requester.retire = true;
    return result;
  }

  /// Whether the supervisor answers within `timeout` that it is running
  /// every critical component (false while one restarts, after an
  /// escalation and during shutdown). What a service watchdog vouches for.
  bool healthy(timespan timeout);

  // -- reloading ----------------------------------------------------------------

  /// Adopts a new configuration without a restart. Validates `cfg` first
  /// (throws `config_error` and changes nothing when it is refused), then
  /// applies the keys the schema declares live through each subsystem's
  /// `reload` hook and the framework's own (log level); every other changed
  /// key stays as it was and is listed in `restart_needed`. `settings()`
  /// shows the applied values afterwards. Call it from a plain thread (it
  /// waits for the components' replies), one reload at a time.
  reload_report reload(config cfg);

  // -- lifecycle ----------------------------------------------------------------

  /// Starts the critical components and those the preload list names. The
  /// constructor calls it unless `[performance] auto_init = false`; with
  /// that, nothing starts until a component's first use or this call.
  /// Calling it again does nothing. Errors: a critical component that
  /// failed to start (the node keeps running the others).
  caf::error init();

  /// Whether `init` ran (or the node started with `auto_init`).
  bool initialized() const noexcept;

  /// Begins shutdown without waiting; safe from any thread, actors included.
  void request_stop(caf::error reason = {});

  /// Shuts down and waits: stop accepting work, drain in-flight calls, stop
  /// components in reverse dependency order, then the actor system. Each
  /// phase is bounded by `[runtime] shutdown_timeout`. Returns the reason the
  /// node stopped (none for a requested stop, `escalated` when the
  /// supervisor gave up). Must not be called from inside an actor.
  caf::error stop();

  /// Blocks until the node has stopped (by `stop`, `request_stop` or an
  /// escalation) and returns the reason, like `stop`.
  caf::error wait();

  /// Waits at most `timeout`; returns whether the node has stopped.
  bool wait_for(timespan timeout);

private:
  struct impl;

  /// Stale messages a pooled requester may hold before it is replaced.
  static constexpr size_t stale_messages_max = 16;

  /// A pooled requester, returned on destruction.
  struct lease {
    impl* owner = nullptr;
    caf::scoped_actor* self = nullptr;
    bool retire = false;
    lease() = default;
    lease(impl* o, caf::scoped_actor* s)
      : owner(o)
      , self(s) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease();
  };

  lease borrow();
  void track(caf::actor_addr addr);
  std::shared_ptr<void> shared_object(const std::string& name, std::type_index type) const;

  std::unique_ptr<impl> impl_;
};

/// Drops the calling thread's hold on the actor system. CAF 0.17 keeps a
/// thread-local reference in each thread that spawned an actor or made a
/// `scoped_actor`, and destroying the system waits for every one of them.
/// The runtime calls this for its own calls; call it yourself on a thread
/// that used CAF directly and outlives the runtime.
void release_thread();

/// One supervised actor, found by name at each call: a handle taken before
/// a restart reaches the new instance after it.
class child_handle {
public:
  child_handle(runtime& rt, std::string name, std::shared_ptr<detail::subtree> tree = nullptr)
    : rt_(&rt)
    , name_(std::move(name))
    , tree_(std::move(tree)) {}

  const std::string& name() const noexcept { return name_; }

  /// The current instance. Errors: `not_found`, `unavailable` (down,
  /// restarting, or its supervisor gave up).
  caf::expected<caf::actor> actor() const;

  /// Sends `xs...` to the current instance and waits at most `[runtime]
  /// request_timeout` for a reply of type `R` (from a plain thread).
  template <class R, class... Ts>
  caf::expected<R> call(Ts&&... xs) const {
    auto a = actor();
    if (!a)
      return a.error();
    return rt_->request<R>(*a, rt_->settings().runtime.request_timeout, std::forward<Ts>(xs)...);
  }

private:
  runtime* rt_;
  std::string name_;
  std::shared_ptr<detail::subtree> tree_;
};

/// A nested supervisor (`runtime::spawn_supervisor`, or `spawn_supervisor`
/// on another one): the actors spawned under it restart per its own
/// strategy and intensity; a crash loop among them makes it give up, and
/// its parent restarts the subtree (one level up per give-up).
class supervisor_handle {
public:
  supervisor_handle(runtime& rt, std::shared_ptr<detail::subtree> tree)
    : rt_(&rt)
    , tree_(std::move(tree)) {}

  const std::string& name() const noexcept;

  /// Starts `spec` under this supervisor and returns a handle on it.
  /// Errors: a duplicate name, a failed start, `unavailable` once it gave up.
  caf::expected<child_handle> spawn(child_spec spec);

  /// Starts a supervisor nested under this one (a deeper tree): a child of
  /// this supervisor, restarted by it per `policy` when it gives up.
  caf::expected<supervisor_handle> spawn_supervisor(const std::string& name,
                                                    supervisor_config options = {},
                                                    restart policy = restart::permanent);

  /// A handle on child `name` (resolved at each call).
  child_handle child(const std::string& name) const { return child_handle{*rt_, name, tree_}; }

  /// Whether it gave up (exceeded its restart intensity, stopped its
  /// children and exited) and is down: until its parent restarts it, or for
  /// good (`temporary`, or the parent gave up too). `reason` says why.
  bool given_up() const noexcept;
  std::string reason() const;

  /// How often it gave up since it was spawned.
  uint64_t give_ups() const noexcept;

  /// Its children's statistics (starts, restarts, running).
  std::vector<component_stats> children() const;

private:
  runtime* rt_;
  std::shared_ptr<detail::subtree> tree_;
};

} // namespace p21
