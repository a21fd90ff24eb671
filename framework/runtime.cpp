#include "p21/runtime.hpp"

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "detail/async_caller.hpp"
#include "detail/logging.hpp"
#include "detail/node_actor.hpp"
#include "detail/runtime_impl.hpp"
#include "detail/state_dir.hpp"
#include "detail/supervisor_actor.hpp"
#include "p21/config_schema.hpp"
#include "p21/profiling.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/types.hpp"

namespace p21 {

void release_thread() {
  // CAF 0.17 keeps a thread-local reference to the system's logger in every
  // thread that spawned an actor or made a scoped_actor; ~actor_system waits
  // for all of them, so a caller's thread that outlives the runtime would
  // hang its shutdown.
  caf::logger::set_current_actor_system(nullptr);
}



// -- lease --------------------------------------------------------------------

runtime::lease::~lease() {
  if (!self)
    return;
  std::unique_ptr<caf::scoped_actor> doomed;
  {
    std::lock_guard<std::mutex> guard{owner->pool_mtx};
    if (retire || !owner->accepting)
      doomed.reset(self);
    else
      owner->idle.emplace_back(self);
    --owner->in_flight;
  }
  doomed.reset();
  release_thread();
  owner->pool_cv.notify_all();
}

runtime::lease runtime::borrow() {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.pool_mtx};
  if (!d.accepting)
    return lease{};
  ++d.in_flight;
  if (!d.idle.empty()) {
    auto self = d.idle.back().release();
    d.idle.pop_back();
    return lease{&d, self};
  }
  guard.unlock();
  return lease{&d, new caf::scoped_actor{*d.sys, true}};
}

// -- constructors -------------------------------------------------------------

std::vector<child_spec> resolve_components(const config& cfg,
                                           const std::vector<subsystem>& subsystems,
                                           std::vector<child_spec> extra,
                                           std::shared_ptr<node_view> view) {
  if (view)
    for (auto& sub : subsystems)
      if (sub.publishable)
        for (auto& name : sub.publishable(cfg))
          view->publishable.push_back(name);
  std::vector<child_spec> specs;
  for (auto& sub : subsystems)
    if (sub.components)
      for (auto& spec : sub.components(cfg, view))
        specs.push_back(std::move(spec));
  for (auto& c : extra)
    specs.push_back(std::move(c));
  for (auto& sub : subsystems)
    if (sub.adjust_components)
      sub.adjust_components(cfg, specs);
  for (auto& [name, cc] : cfg.components) {
    auto i = std::find_if(specs.begin(), specs.end(), [&](auto& s) { return s.name == name; });
    if (i == specs.end())
      throw config_error(cfg.source, 0, 0, "components." + name,
                         "no component of this name is registered");
    if (cc.prio)
      i->prio = *cc.prio;
    if (cc.depends_on)
      i->depends_on = *cc.depends_on;
  }
  std::vector<child_spec> ordered;
  for (auto i : start_order(specs, cfg.source))
    ordered.push_back(std::move(specs[i]));
  return ordered;
}

runtime::runtime(config cfg, std::vector<subsystem> subsystems, std::vector<child_spec> components)
  : impl_(new impl) {
  auto& d = *impl_;
  auto schema = make_schema(subsystems);
  validate(schema, cfg);
  complete(schema, cfg);
  d.cfg = std::move(cfg);
  d.current->set(d.cfg);
  d.subsystems = std::move(subsystems);
  // Before any component opens the database or writes state.
  if (auto err = detail::make_run_dirs(d.cfg, detail::data_directories(d.cfg, d.subsystems)))
    throw std::runtime_error(render(err));
  auto view = std::make_shared<node_view>();
  view->registry = &d.registry;
  view->resources = &d.resources;
  view->epoch = d.epoch;
  view->settings = [current = d.current] {
    return current->get();
  };
  if (d.cfg.runtime.profiling) {
    // One profile per component name, kept across its restarts.
    auto profiles = std::make_shared<
        std::pair<std::mutex, std::map<std::string, std::shared_ptr<actor_profile>>>>();
    auto* registry = &d.registry;
    view->profile = [profiles, registry](const std::string& name) {
      std::lock_guard<std::mutex> guard{profiles->first};
      auto& p = profiles->second[name];
      if (!p)
        p = std::make_shared<actor_profile>(*registry, name);
      return p;
    };
  }
  auto specs = resolve_components(d.cfg, d.subsystems, std::move(components), view);
  d.logger = detail::make_logger(d.cfg.logging);
  spdlog::set_default_logger(d.logger);
  auto threads = d.cfg.runtime.threads ? d.cfg.runtime.threads : available_cpus();
  d.caf_cfg.set("scheduler.max-threads", threads);
  d.caf_cfg.set("scheduler.policy", caf::atom_from_string(to_string(d.cfg.runtime.scheduler)));
  add_message_types(d.caf_cfg, d.subsystems);
  for (auto& sub : d.subsystems)
    if (sub.configure_system)
      sub.configure_system(d.cfg, d.caf_cfg);
  auto raw = impl_.get();
  {
    std::promise<void> ready;
    auto started = ready.get_future();
    d.lifecycle = std::thread{[raw, &ready] {
      raw->run_lifecycle(ready);
    }};
    try {
      started.get();
    } catch (...) {
      d.lifecycle.join();
      throw;
    }
  }
  std::vector<detail::slot_ptr> ordered;
  for (auto& spec : specs)
    ordered.push_back(std::make_shared<detail::child_slot>(std::move(spec), d.epoch));
  d.slots = ordered;
  // Set before the supervisor exists, so before any component reads it.
  view->stats = [raw] {
    std::vector<component_stats> out;
    std::lock_guard<std::mutex> guard{raw->components_mtx};
    for (auto& s : raw->slots)
      out.push_back(s->stats());
    return out;
  };
  view->running = [raw] {
    std::vector<std::pair<std::string, caf::actor>> out;
    std::lock_guard<std::mutex> guard{raw->components_mtx};
    for (auto& s : raw->slots)
      if (auto a = s->current())
        out.emplace_back(s->spec().name, std::move(a));
    return out;
  };
  auto state_dir = detail::state_dir(d.cfg, detail::data_directories(d.cfg, d.subsystems));
  d.node = detail::spawn_node_actor(*d.sys, state_dir, d.resources);
  view->node = d.node;
  d.view = view;
  d.supervisor = detail::spawn_supervisor(*d.sys, d.cfg.supervisor, std::move(ordered),
                                          [raw](caf::error e) { raw->request_stop(e); });
  view->supervisor = d.supervisor;
  release_thread();
  spdlog::info("node started: {} scheduler thread(s), {} component(s)", threads, d.slots.size());
  d.state_dir = state_dir;
  if (!d.cfg.performance.auto_init) {
    spdlog::info("auto_init = false: components start on first use or runtime::init()");
    return;
  }
  if (auto err = init()) {
    stop();
    throw std::runtime_error(render(err));
  }
}

caf::error runtime::init() {
  auto& d = *impl_;
  std::lock_guard<std::mutex> guard{d.init_mtx};
  if (d.initialized)
    return {};
  if (!d.accepting)
    return make_error(errc::unavailable, "the runtime is shutting down");
  std::vector<detail::slot_ptr> slots;
  {
    std::lock_guard<std::mutex> components_guard{d.components_mtx};
    slots = d.slots;
  }
  for (auto& slot : slots) {
    if (slot->spec().prio != priority::critical)
      continue;
    auto started = request<caf::actor>(d.supervisor, d.cfg.runtime.request_timeout,
                                       start_atom::value, slot->spec().name);
    if (!started)
      return make_error(errc::unavailable, "critical component '" + slot->spec().name +
                                               "' failed to start: " + render(started.error()));
  }
  d.initialized = true;
  // Rule 4 (lazy_loading) learned which components are used soon after
  // start: start those now rather than on first use.
  if (!d.state_dir.empty()) {
    for (auto& name : detail::load_preload_list(d.state_dir)) {
      auto slot = d.find(name);
      if (!slot || slot->spec().prio == priority::critical || !slot->startable_on_use())
        continue;
      if (request<caf::actor>(d.supervisor, d.cfg.runtime.request_timeout, start_atom::value, name))
        spdlog::info("preloaded '{}' (first used soon after start last time)", name);
    }
  }
  return {};
}

bool runtime::initialized() const noexcept {
  return impl_->initialized;
}

runtime::~runtime() {
  static_cast<void>(stop());
}

// -- properties ---------------------------------------------------------------

caf::actor_system& runtime::system() {
  return *impl_->sys;
}

const config& runtime::settings() const noexcept {
  return impl_->cfg;
}

std::shared_ptr<const config> runtime::current_settings() const {
  return impl_->current->get();
}

bool runtime::accepting() const noexcept {
  return impl_->accepting;
}

metrics_registry& runtime::metrics() noexcept {
  return impl_->registry;
}

resource_manager& runtime::resources() noexcept {
  return impl_->resources;
}

// -- components ---------------------------------------------------------------

caf::expected<caf::actor> runtime::actor_of(const std::string& name) {
  auto& d = *impl_;
  if (!d.accepting)
    return make_error(errc::unavailable, "the runtime is shutting down");
  auto slot = d.find(name);
  if (!slot)
    return make_error(errc::not_found, "no component named '" + name + "'");
  slot->record_use();
  auto [running, startable] = slot->current_or_startable();
  if (running)
    return running;
  if (!startable)
    return make_error(errc::unavailable, "component '" + name + "' is down");
  // First use of a lazy component: the supervisor starts it exactly once,
  // however many threads ask at the same time.
  return request<caf::actor>(d.supervisor, d.cfg.runtime.request_timeout, start_atom::value, name);
}

caf::expected<bool> runtime::unload(const std::string& name) {
  auto& d = *impl_;
  if (!d.accepting)
    return make_error(errc::unavailable, "the runtime is shutting down");
  return request<bool>(d.supervisor, d.cfg.runtime.request_timeout, unload_atom::value, name);
}

caf::expected<caf::actor> runtime::running_actor_of(const std::string& name) {
  auto& d = *impl_;
  if (!d.accepting)
    return make_error(errc::unavailable, "the runtime is shutting down");
  auto slot = d.find(name);
  if (!slot)
    return make_error(errc::not_found, "no component named '" + name + "'");
  slot->record_use();
  if (auto running = slot->current_or_startable().first)
    return running;
  return make_error(errc::unavailable, "component '" + name + "' is not running");
}

void runtime::actor_of_async(caf::event_based_actor* self, const std::string& name,
                             timespan timeout,
                             std::function<void(caf::expected<caf::actor>)> then) {
  auto& d = *impl_;
  if (!d.accepting)
    return then(make_error(errc::unavailable, "the runtime is shutting down"));
  auto slot = d.find(name);
  if (!slot)
    return then(make_error(errc::not_found, "no component named '" + name + "'"));
  slot->record_use();
  auto [running, startable] = slot->current_or_startable();
  if (running)
    return then(std::move(running));
  if (!startable)
    return then(make_error(errc::unavailable, "component '" + name + "' is down"));
  // The supervisor starts it once, however many callers ask.
  self->request(d.supervisor, timeout, start_atom::value, name)
      .then([then](caf::actor& a) { then(std::move(a)); },
            [then](caf::error& e) { then(normalize(std::move(e))); });
}

caf::actor runtime::async_caller() {
  auto& d = *impl_;
  if (!d.accepting)
    return {};
  // A few, so that one slow callback delays only its share of replies.
  auto n = std::min<size_t>(d.sys->scheduler().num_workers(), 4);
  // `spawn` drops this thread's hold on the system (release_thread).
  return d.async.next(n, [this] { return spawn(detail::async_caller_actor); });
}

void runtime::note_use(const std::string& name) {
  if (auto slot = impl_->find(name))
    slot->record_use();
}

caf::error runtime::add_component(child_spec spec) {
  auto& d = *impl_;
  if (auto i = d.cfg.components.find(spec.name); i != d.cfg.components.end()) {
    if (i->second.prio)
      spec.prio = *i->second.prio;
    if (i->second.depends_on)
      spec.depends_on = *i->second.depends_on;
  }
  if (!spec.start)
    return make_error(errc::invalid_argument,
                      "component '" + spec.name + "' has no start function");
  auto slot = std::make_shared<detail::child_slot>(std::move(spec), d.epoch);
  auto added = request<bool>(d.supervisor, d.cfg.runtime.request_timeout, add_child_atom::value,
                             slot, d.initialized.load());
  if (added || is(added.error(), errc::unavailable)) {
    // Registered, even if a critical one failed its first start.
    std::lock_guard<std::mutex> guard{d.components_mtx};
    if (added || slot->spec().prio == priority::critical)
      d.slots.push_back(slot);
  }
  return added ? caf::error{} : added.error();
}

caf::expected<caf::actor> runtime::spawn_supervised(child_spec spec) {
  spec.prio = priority::critical;
  auto name = spec.name;
  if (auto err = add_component(std::move(spec)))
    return err;
  auto slot = impl_->find(name);
  if (auto a = slot ? slot->current() : caf::actor{})
    return a;
  // Before `init` (auto_init = false) a spawn is this child's first use.
  if (slot && !slot->ever_started())
    return actor_of(name);
  return make_error(errc::unavailable, "child '" + name + "' is down");
}

child_handle runtime::child(const std::string& name) {
  return child_handle{*this, name};
}

caf::expected<supervisor_handle>
runtime::spawn_supervisor(const std::string& name, supervisor_config options, restart policy) {
  auto tree = detail::make_subtree(name, options);
  if (auto err = add_component(detail::subtree_spec(tree, policy)))
    return err;
  // The runtime keeps the subtree for as long as the node runs.
  {
    std::lock_guard<std::mutex> guard{impl_->components_mtx};
    impl_->subtrees.push_back(tree);
  }
  if (auto a = actor_of(name); !a)
    return a.error();
  return supervisor_handle{*this, std::move(tree)};
}

std::vector<component_stats> runtime::components() const {
  std::lock_guard<std::mutex> guard{impl_->components_mtx};
  std::vector<component_stats> out;
  for (auto& s : impl_->slots)
    out.push_back(s->stats());
  return out;
}

std::optional<component_stats> runtime::component(const std::string& name) const {
  if (auto slot = impl_->find(name))
    return slot->stats();
  return std::nullopt;
}

std::shared_ptr<void> runtime::shared_object(const std::string& name, std::type_index type) const {
  auto slot = impl_->find(name);
  return slot ? slot->spec().shared.get(type) : nullptr;
}

void runtime::track(caf::actor_addr addr) {
  release_thread();
  std::lock_guard<std::mutex> guard{impl_->user_mtx};
  auto& xs = impl_->user_actors;
  // Forget actors that are gone so the list does not grow without bound.
  xs.erase(
      std::remove_if(xs.begin(), xs.end(), [](auto& a) { return !caf::actor_cast<caf::actor>(a); }),
      xs.end());
  xs.push_back(std::move(addr));
}

bool runtime::healthy(timespan timeout) {
  auto& d = *impl_;
  if (!d.accepting)
    return false;
  auto r = request<bool>(d.supervisor, timeout, health_atom::value);
  return r && *r;
}

// -- reloading ----------------------------------------------------------------

reload_report runtime::reload(config cfg) {
  auto& d = *impl_;
  auto schema = make_schema(d.subsystems);
  validate(schema, cfg);
  complete(schema, cfg);
  auto changes = diff(schema, d.cfg, cfg);
  reload_report report;
  report.applied = changes.live;
  report.restart_needed = changes.restart;
  if (!d.accepting) {
    for (auto& k : changes.live)
      report.fail(k, "the node is shutting down");
    return report;
  }
  // What the subsystems see: the running config with every live change.
  auto old = d.cfg;
  auto next = old;
  adopt(schema, cfg, next, changes.live);
  if (next.logging.level != old.logging.level && d.logger)
    detail::set_level(*d.logger, next.logging.level);
  reload_context ctx;
  ctx.view = d.view.get();
  ctx.system = d.sys.get();
  ctx.timeout = d.cfg.runtime.request_timeout;
  // Start functions read the new values from now on. A start runs inside
  // one supervisor message, so once the supervisor answered this request
  // every start that read the old values has finished and is among the
  // running components the hooks message; the others start with `next`.
  d.current->set(next);
  // A knob whose config key changed follows the reloaded value from now
  // on: the supervisors no longer keep its run-time value for a restart
  // (which starts from `next`), so neither a restart nor the optimizer's
  // last set undoes the reload. Before the hooks, so that a component
  // restarting while they run starts from `next` alone.
  {
    std::vector<detail::slot_ptr> slots;
    {
      std::lock_guard<std::mutex> guard{d.components_mtx};
      slots = d.slots;
    }
    detail::forget_reloaded_knobs(slots, changes.live);
  }
  if (!request<bool>(d.supervisor, ctx.timeout, health_atom::value))
    spdlog::warn("reload: the supervisor did not answer; a component starting now may miss it");
  for (auto& sub : d.subsystems)
    if (sub.reload)
      sub.reload(old, next, ctx, report);
  for (auto& sub : d.subsystems)
    if (sub.reloaded)
      sub.reloaded(report, ctx);
  release_thread();
  // In place: the keys that changed are the only members written.
  adopt(schema, cfg, d.cfg, report.applied);
  // Without the keys that failed: a component started from here on runs
  // with what the running ones run with.
  d.current->set(d.cfg);
  // One line, a warning when something waits for a restart.
  if (report.restart_needed.empty() && report.failed.empty())
    spdlog::info("reload: {}", report.describe());
  else
    spdlog::warn("reload: {}", report.describe());
  return report;
}

} // namespace p21
