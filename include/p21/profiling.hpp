#pragma once

// Actor profiling: per component, its mailbox depth, the messages it handled
// by type and how long its handlers ran. CAF 0.17's own actor profiler is
// compiled out of Debian's libcaf, so a component opts in by spawning
// through `spawn_profiled`, which wraps the actor class and overrides the
// two virtual hooks every message passes (`enqueue`, `consume`). Off
// (`[runtime] profiling = false`), `spawn_profiled` is a plain `spawn`.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/scheduled_actor.hpp>

#include "p21/metrics.hpp"

namespace p21 {

/// The metrics of the profiler, labelled `component` (and `type`).
/// Components come from the config (a cache has up to 256 shards), so
/// their families hold up to `component_series` series; message types come
/// from input, and past a component's `actor_profile::max_types` count as
/// `type="other"`.
namespace profiling_metrics {

inline constexpr uint32_t component_series = 16384;

inline constexpr metric_def mailbox_depth{"actor_mailbox_depth",
                                          "Messages waiting in a component's mailbox.",
                                          metric_kind::gauge,
                                          "",
                                          component_series};
inline constexpr metric_def messages{"actor_messages",
                                     "Messages a component handled, by message type.",
                                     metric_kind::counter,
                                     "",
                                     component_series,
                                     "type"};
inline constexpr metric_def handler_seconds{"actor_handler_seconds",
                                            "Time a component's handlers ran, per message.",
                                            metric_kind::histogram,
                                            "seconds",
                                            component_series};

inline constexpr metric_def all[] = {mailbox_depth, messages, handler_seconds};

} // namespace profiling_metrics

/// One component's profile, shared by its incarnations (a restart keeps
/// counting). Recording never locks, except the first message of a type.
class actor_profile {
public:
  /// Message types a component counts by name; messages of further types
  /// (a peer can send any atom) count as `type="other"`, so that input
  /// never grows the registry or this profile.
  static constexpr size_t max_types = 128;

  /// `registry` must outlive every actor spawned with this profile (they
  /// record until their last message, the exit).
  actor_profile(metrics_registry& registry, std::string component);

  /// A message arrived in the mailbox (any thread).
  void enqueued() noexcept { depth_.add(1); }

  /// A new incarnation starts with an empty mailbox.
  void restarted() noexcept { depth_.set(0); }

  /// The actor handled `x` in `ns` nanoseconds; called by the actor only.
  /// Its type is its first atom, or its first element's type name.
  void handled(const caf::mailbox_element& x, uint64_t ns, const caf::uniform_type_info_map& types);

  const std::string& component() const noexcept { return component_; }

private:
  counter& messages_of(const caf::mailbox_element& x, const caf::uniform_type_info_map& types);

  metrics_registry& registry_;
  std::string component_;
  gauge& depth_;
  histogram& handler_time_;
  // By atom value or type id, at most `max_types`; only the actor's own
  // thread reads or writes them.
  std::unordered_map<uint64_t, counter*> by_type_;
  counter* other_ = nullptr;
};

/// An actor class `Impl` whose every message is recorded in a profile.
template <class Impl>
class profiled_actor : public Impl {
public:
  template <class... Ts>
  profiled_actor(caf::actor_config& cfg, std::shared_ptr<actor_profile> profile)
    : Impl(cfg)
    , profile_(std::move(profile)) {
    // What a previous incarnation left unhandled died with it.
    profile_->restarted();
  }

  void enqueue(caf::mailbox_element_ptr x, caf::execution_unit* eu) override {
    profile_->enqueued();
    Impl::enqueue(std::move(x), eu);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    auto start = std::chrono::steady_clock::now();
    auto result = Impl::consume(x);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    // A skipped message stays in the mailbox and comes back later.
    if (result != caf::invoke_message_result::skipped)
      profile_->handled(x, static_cast<uint64_t>(ns), this->system().types());
    return result;
  }

private:
  std::shared_ptr<actor_profile> profile_;
};

/// Spawns the function-based actor `fun(self, xs...)` as `sys.spawn<Os>`
/// does, wrapped in a `profiled_actor` when `profile` is set.
template <caf::spawn_options Os = caf::no_spawn_options, class F, class... Ts>
caf::infer_handle_from_fun_t<F>
spawn_profiled(caf::actor_system& sys, std::shared_ptr<actor_profile> profile, F fun, Ts&&... xs) {
  if (!profile)
    return sys.spawn<Os>(std::move(fun), std::forward<Ts>(xs)...);
  using impl = caf::infer_impl_from_fun_t<F>;
  caf::actor_config cfg;
  caf::detail::init_fun_factory<impl, F> fac;
  cfg.init_fun = fac(std::move(fun), std::forward<Ts>(xs)...);
  return sys.spawn_class<profiled_actor<impl>, Os>(cfg, std::move(profile));
}

} // namespace p21
