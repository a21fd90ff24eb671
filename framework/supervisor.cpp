#include "detail/supervisor_actor.hpp"

#include <optional>
#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/error.hpp"
#include "p21/knob.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21::detail {

namespace {

using clock = std::chrono::steady_clock;

struct supervisor_state {
  /// In start order: a child's dependencies come before it, so stopping in
  /// reverse index order respects dependencies.
  std::vector<slot_ptr> children;
  /// The running instance of each child, or invalid.
  std::vector<caf::actor> instances;
  std::unique_ptr<supervision_policy> policy;
  escalation_handler on_escalate;
  /// A nested supervisor (`runtime::spawn_supervisor`): giving up stops its
  /// own children and ends it (its parent decides what follows), instead of
  /// stopping the node.
  bool contain = false;
  std::string label = "supervisor";
  /// Set by an exit message or a contained escalation: quit with this once
  /// every child has stopped.
  std::optional<caf::error> quit_reason;
  /// Instances we asked to stop; their DOWN is expected, not a crash.
  std::set<caf::actor_addr> retiring;
  bool escalated = false;
  bool stopping = false;
  /// Bumped when shutdown begins, so that pending delayed restarts lapse.
  uint64_t restart_epoch = 0;
  std::vector<size_t> stop_queue;
  std::vector<caf::typed_response_promise<bool>> stop_promises;

  static inline const char* name = "p21.supervisor";
};

using self_ptr = caf::stateful_actor<supervisor_state>*;

std::optional<size_t> index_of(const supervisor_state& st, const std::string& name) {
  for (size_t i = 0; i < st.children.size(); ++i)
    if (st.children[i]->spec().name == name)
      return i;
  return std::nullopt;
}

caf::error start_one(self_ptr self, size_t i) {
  auto& st = self->state;
  auto& slot = st.children[i];
  auto& name = slot->spec().name;
  auto began = clock::now();
  caf::actor instance;
  std::string problem;
  // A start function reports failure as an error value. One that throws
  // anyway breaks that contract; it is contained here so the supervisor
  // (and with it the node) outlives it, and logged as such.
  try {
    auto started = slot->spec().start(self->system());
    if (started)
      instance = std::move(*started);
    else
      problem = started.error() ? render(started.error()) : "its start function gave no reason";
  } catch (const std::exception& e) {
    problem = std::string{"its start function threw (it should return an error): "} + e.what();
  }
  if (!instance) {
    if (problem.empty())
      problem = "its start function returned no actor";
    spdlog::error("component '{}' failed to start: {}", name, problem);
    return make_error(errc::unavailable, "component '" + name + "' failed to start: " + problem);
  }
  self->monitor(instance);
  reapply_kept_knobs(self, slot, instance);
  st.instances[i] = instance;
  slot->set_up(instance, began, clock::now());
  spdlog::debug("component '{}' started", name);
  return caf::none;
}

/// Starts child `i` after whatever it depends on that is not running yet.
caf::error start_with_dependencies(self_ptr self, size_t i) {
  auto& st = self->state;
  for (auto& dep : st.children[i]->spec().depends_on) {
    auto d = index_of(st, dep);
    if (!d)
      return make_error(errc::not_found, "dependency '" + dep + "' is not a component");
    if (st.instances[*d])
      continue;
    if (!st.children[*d]->startable_on_use())
      return make_error(errc::unavailable, "dependency '" + dep + "' is down");
    if (auto err = start_with_dependencies(self, *d))
      return err;
  }
  return st.instances[i] ? caf::none : start_one(self, i);
}

/// Asks a running child to stop; kills it after its shutdown timeout.
void retire(self_ptr self, size_t i) {
  auto& st = self->state;
  auto instance = std::move(st.instances[i]);
  st.instances[i] = caf::actor{};
  if (!instance)
    return;
  st.children[i]->set_down();
  st.retiring.insert(instance.address());
  self->send_exit(instance, caf::exit_reason::user_shutdown);
  self->delayed_send(self, st.children[i]->spec().shutdown_timeout, kill_atom::value,
                     instance.address(), false);
}

void begin_stop(self_ptr self);

void continue_stop(self_ptr self) {
  auto& st = self->state;
  if (!st.retiring.empty())
    return;
  while (!st.stop_queue.empty()) {
    auto i = st.stop_queue.back();
    st.stop_queue.pop_back();
    if (st.instances[i]) {
      spdlog::debug("stopping component '{}'", st.children[i]->spec().name);
      retire(self, i);
      return;
    }
  }
  for (auto& p : st.stop_promises)
    p.deliver(true);
  st.stop_promises.clear();
  if (st.quit_reason)
    self->quit(*st.quit_reason);
}

/// Stops every child in reverse start order (`continue_stop` goes on as
/// each one's DOWN arrives).
void begin_stop(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping) {
    st.stopping = true;
    ++st.restart_epoch;
    st.stop_queue.clear();
    for (size_t i = 0; i < st.instances.size(); ++i)
      st.stop_queue.push_back(i);
  }
  continue_stop(self);
}

/// Whether another node caused a child's exit, so that it must not count
/// toward the restart intensity. The rule: peers reach a node only through
/// actors no supervisor watches (the gateway's public proxies, the stubs
/// behind their keepers: actors/cluster/), which their owners replace, so a
/// peer's `kill` never ends a child. What is left is what CAF itself reports
/// as remote: `remote_link_unreachable`, a link to an actor on another node
/// lost with its connection. A child never links to a remote actor (it
/// monitors it: a DOWN ends nothing), and a remote actor's exit through
/// such a link would carry the remote's own reason, which cannot be told
/// from a local crash; hence the rule above, and this check as its backstop.
bool caused_by_another_node(const caf::error& reason) {
  return reason == caf::exit_reason::remote_link_unreachable;
}

/// The child that holds `knob` (its owner, or the nested supervisor above
/// the owner) and is running, to forward a get or set of it to: the reply
/// goes from the owner straight to the sender, and this supervisor waits
/// for nothing. What it cannot forward it answers with an error.
caf::expected<size_t> knob_holder(self_ptr self, const std::string& knob) {
  auto& st = self->state;
  for (size_t i = 0; i < st.children.size(); ++i) {
    auto& spec = st.children[i]->spec();
    if (!holds_knob(spec, knob))
      continue;
    if (st.stopping || st.escalated)
      return make_error(errc::unavailable, "knob '" + knob + "': the supervisor is stopping");
    if (!st.instances[i]) {
      auto why = !st.children[i]->ever_started() ? "not started yet (it starts on first use)"
                                                 : "down (restarting or stopped)";
      return make_error(errc::unavailable,
                        "knob '" + knob + "': component '" + spec.name + "' is " + why);
    }
    return i;
  }
  return make_error(errc::not_found, "no component declares a knob named '" + knob + "'");
}

void handle_exit(self_ptr self, size_t i, bool abnormal, const std::string& reason,
                 bool counts = true) {
  auto& st = self->state;
  auto& spec = st.children[i]->spec();
  std::vector<bool> running;
  for (auto& a : st.instances)
    running.push_back(static_cast<bool>(a));
  auto d = st.policy->on_exit(i, spec.policy, abnormal, running, clock::now(), counts);
  switch (d.kind) {
  case supervision_policy::decision::ignore:
    spdlog::info("component '{}' exited ({}) and is not restarted (restart = {})", spec.name,
                 reason, to_string(spec.policy));
    return;
  case supervision_policy::decision::escalate: {
    st.escalated = true;
    auto msg = "component '" + spec.name + "' exceeded its restart intensity; last exit: " + reason;
    if (!st.contain) {
      spdlog::critical("supervisor gives up: {}", msg);
      if (st.on_escalate)
        st.on_escalate(make_error(errc::escalated, msg));
      return;
    }
    // Erlang's escalation: its children stop and this supervisor exits
    // with `escalated`; its parent sees a failed child and restarts the
    // subtree under its own intensity (one level up per give-up), or
    // leaves it down when it is `temporary`.
    msg = "supervisor '" + st.label + "' gave up: " + msg;
    spdlog::error("{}; stopping its children", msg);
    auto err = make_error(errc::escalated, msg);
    if (st.on_escalate)
      st.on_escalate(err);
    st.quit_reason = err;
    begin_stop(self);
    return;
  }
  case supervision_policy::decision::restart: {
    for (auto s : d.stop)
      retire(self, s);
    spdlog::warn("component '{}' exited ({}); restarting {} child(ren) in {}", spec.name, reason,
                 d.start.size(), format_duration(d.delay));
    std::vector<uint64_t> to_start(d.start.begin(), d.start.end());
    self->delayed_send(self, d.delay, restart_atom::value, std::move(to_start), st.restart_epoch);
    return;
  }
  }
}

caf::behavior supervisor(self_ptr self, std::vector<slot_ptr> children, supervisor_config cfg,
                         escalation_handler on_escalate, std::string label, bool contain) {
  auto& st = self->state;
  st.children = std::move(children);
  st.instances.resize(st.children.size());
  st.policy = std::make_unique<supervision_policy>(
      cfg.restart_strategy, cfg.max_restarts, cfg.period, cfg.backoff_initial, cfg.backoff_max);
  st.on_escalate = std::move(on_escalate);
  st.contain = contain;
  if (!label.empty())
    st.label = std::move(label);
  // A nested supervisor asked to exit (by the node's supervisor) stops its
  // children first: they are not linked to it and would outlive it. The
  // node's own supervisor has stopped its children (stop_atom) before the
  // runtime sends it an exit, and quits at once as CAF's default does.
  if (st.contain)
    self->set_exit_handler([=](caf::exit_msg& em) {
      auto& st = self->state;
      if (!st.quit_reason)
        st.quit_reason = em.reason;
      begin_stop(self);
    });
  // A nested supervisor started again brings back the children it had.
  if (st.contain)
    for (size_t i = 0; i < st.children.size(); ++i)
      if (st.children[i]->spec().prio == priority::critical && !st.instances[i])
        if (auto err = start_with_dependencies(self, i))
          spdlog::error("{}: {}", st.label, render(err));
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.retiring.erase(dm.source) > 0) {
      if (st.stopping)
        continue_stop(self);
      return;
    }
    for (size_t i = 0; i < st.instances.size(); ++i) {
      if (!st.instances[i] || st.instances[i].address() != dm.source)
        continue;
      st.instances[i] = caf::actor{};
      st.children[i]->set_down();
      bool abnormal =
          dm.reason != caf::exit_reason::normal && dm.reason != caf::exit_reason::user_shutdown;
      if (!st.stopping && !st.escalated)
        handle_exit(self, i, abnormal, render(dm.reason), !caused_by_another_node(dm.reason));
      return;
    }
  });
  return {
      // Healthy: not stopping or escalated, and every critical child up
      // (what a service watchdog should vouch for).
      [=](health_atom) {
        auto& st = self->state;
        if (st.stopping || st.escalated)
          return false;
        // A temporary child that ended stays down by design (a temporary
        // nested supervisor that gave up, among others), and one never started
        // waits for its first use (`auto_init = false`): neither is a sign
        // of ill health.
        for (size_t i = 0; i < st.children.size(); ++i) {
          auto& child = *st.children[i];
          if (child.spec().prio == priority::critical && !st.instances[i] &&
              child.spec().policy != restart::temporary && child.ever_started())
            return false;
        }
        return true;
      },
      [=](start_atom, const std::string& name) -> caf::result<caf::actor> {
        auto& st = self->state;
        if (st.stopping || st.escalated)
          return make_error(errc::unavailable, "the node is shutting down");
        auto i = index_of(st, name);
        if (!i)
          return make_error(errc::not_found, "no component named '" + name + "'");
        if (st.instances[*i])
          return st.instances[*i];
        if (!st.children[*i]->startable_on_use())
          return make_error(errc::unavailable, "component '" + name + "' is down");
        if (auto err = start_with_dependencies(self, *i))
          return err;
        return st.instances[*i];
      },
      [=](unload_atom, const std::string& name) -> caf::result<bool> {
        auto& st = self->state;
        auto i = index_of(st, name);
        if (!i)
          return make_error(errc::not_found, "no component named '" + name + "'");
        if (st.stopping || st.escalated || !st.instances[*i])
          return false;
        if (st.children[*i]->spec().prio == priority::critical)
          return make_error(errc::invalid_argument,
                            "component '" + name + "' is critical: it runs as long as the node");
        for (size_t j = 0; j < st.children.size(); ++j) {
          auto& deps = st.children[j]->spec().depends_on;
          if (st.instances[j] && std::find(deps.begin(), deps.end(), name) != deps.end())
            return false; // a running component needs it
        }
        spdlog::info("unloading component '{}' (unused); its next use starts it again", name);
        retire(self, *i);
        st.children[*i]->set_unloaded();
        return true;
      },
      // `start_critical`: false while a node with `auto_init = false` waits
      // for its first use or `init`.
      [=](add_child_atom, slot_ptr& slot, bool start_critical) -> caf::result<bool> {
        auto& st = self->state;
        auto& spec = slot->spec();
        if (st.stopping || st.escalated)
          return make_error(errc::unavailable, "the node is shutting down");
        if (index_of(st, spec.name))
          return make_error(errc::invalid_argument,
                            "a component named '" + spec.name + "' already exists");
        for (auto& dep : spec.depends_on)
          if (!index_of(st, dep))
            return make_error(errc::not_found, "component '" + spec.name + "' depends on '" + dep +
                                                   "', which is not a component");
        st.children.push_back(slot);
        st.instances.emplace_back();
        if (spec.prio == priority::critical && start_critical)
          if (auto err = start_with_dependencies(self, st.children.size() - 1))
            return err;
        return true;
      },
      [=](restart_atom, const std::vector<uint64_t>& indices, uint64_t epoch) {
        auto& st = self->state;
        if (epoch != st.restart_epoch || st.stopping || st.escalated)
          return;
        for (auto i : indices) {
          if (st.instances[i])
            continue;
          if (auto err = start_one(self, i)) {
            handle_exit(self, i, true, render(err));
            return;
          }
        }
      },
      [=](kill_atom, const caf::actor_addr& addr, bool give_up) {
        auto& st = self->state;
        if (st.retiring.count(addr) == 0)
          return;
        if (!give_up) {
          if (auto h = caf::actor_cast<caf::actor>(addr)) {
            spdlog::warn("an actor did not stop within its shutdown timeout; killing it");
            self->send_exit(h, caf::exit_reason::kill);
          }
          self->delayed_send(self, std::chrono::seconds{1}, kill_atom::value, addr, true);
          return;
        }
        spdlog::error("an actor ignored a kill for 1s (stuck in a handler?); giving up on it");
        st.retiring.erase(addr);
        if (st.stopping)
          continue_stop(self);
      },
      // The monitor asks every running component for its metrics; a nested
      // supervisor has none of its own (its children's come through the
      // registry), and says so instead of an "unexpected message".
      [=](metrics_atom) { return metric_set{}; },
      [=](get_knob_atom a, const std::string& knob) -> caf::result<double> {
        auto i = knob_holder(self, knob);
        if (!i)
          return i.error();
        self->delegate(self->state.instances[*i], a, knob);
        return caf::delegated<double>{};
      },
      // A set of a knob its own child declares is kept for the child's
      // next instance (set_and_keep).
      [=](set_knob_atom, const std::string& knob, double value) -> caf::result<double> {
        auto i = knob_holder(self, knob);
        if (!i)
          return i.error();
        auto& st = self->state;
        return set_and_keep(self, st.children[*i], st.instances[*i], knob, value);
      },
      [=](stop_atom) -> caf::typed_response_promise<bool> {
        auto& st = self->state;
        auto promise = self->make_response_promise<bool>();
        st.stop_promises.push_back(promise);
        begin_stop(self);
        return promise;
      },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, const supervisor_config& cfg,
                            std::vector<slot_ptr> children, escalation_handler on_escalate) {
  return sys.spawn(supervisor, std::move(children), cfg, std::move(on_escalate), std::string{},
                   false);
}

caf::actor spawn_nested_supervisor(caf::actor_system& sys, const std::string& name,
                                   const supervisor_config& cfg, std::vector<slot_ptr> children,
                                   escalation_handler on_give_up) {
  return sys.spawn(supervisor, std::move(children), cfg, std::move(on_give_up), name, true);
}

child_spec subtree_spec(const std::shared_ptr<subtree>& tree, restart policy) {
  std::weak_ptr<subtree> weak = tree;
  child_spec spec;
  spec.name = tree->name;
  spec.policy = policy;
  spec.prio = priority::critical;
  // Its knobs are its children's: the parent routes them here by looking
  // through the subtree (`holds_knob`).
  spec.shared.put(tree);
  // It stops its children (each within its own timeout) before it ends.
  spec.shutdown_timeout = std::chrono::seconds{30};
  spec.start = [weak](caf::actor_system& sys) -> caf::expected<caf::actor> {
    auto t = weak.lock();
    if (!t)
      return make_error(errc::unavailable, "its subtree was destroyed");
    std::vector<slot_ptr> slots;
    {
      std::lock_guard<std::mutex> guard{t->mtx};
      slots = t->slots;
    }
    auto a = spawn_nested_supervisor(sys, t->name, t->cfg, std::move(slots), [weak](caf::error e) {
      if (auto t = weak.lock()) {
        std::lock_guard<std::mutex> guard{t->mtx};
        t->give_up_reason = render(e);
        ++t->give_ups;
        t->gave_up = true;
      }
    });
    std::lock_guard<std::mutex> guard{t->mtx};
    t->supervisor = a.address();
    t->gave_up = false;
    return a;
  };
  return spec;
}

std::shared_ptr<subtree> make_subtree(const std::string& name, supervisor_config options) {
  auto tree = std::make_shared<subtree>();
  tree->name = name;
  tree->cfg = options;
  return tree;
}

} // namespace p21::detail
