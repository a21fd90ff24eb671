#pragma once

// The node's supervisor actor and the slots through which callers find the
// current instance of each child. Internal to the runtime.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "detail/kept_knobs.hpp"
#include "p21/supervisor.hpp"

namespace p21::detail {

/// The knobs `spec` declares, and for a nested supervisor's spec those of
/// every child under it (at any depth).
knob_specs knobs_under(const child_spec& spec);

/// Whether `knob` is among `knobs_under(spec)`.
bool holds_knob(const child_spec& spec, const std::string& knob);

class child_slot;

/// Drops the kept run-time values of the knobs that start from one of
/// `changed_keys` (`knob_spec::config_keys`), in `slots` and every nested
/// supervisor's children under them; logs each one dropped.
void forget_reloaded_knobs(const std::vector<std::shared_ptr<child_slot>>& slots,
                           const std::vector<std::string>& changed_keys);

/// One child's spec, current instance and statistics, shared between the
/// supervisor (which writes it) and the runtime's callers (which read it, so
/// that a call needs no hop through the supervisor).
class child_slot {
public:
  using clock = std::chrono::steady_clock;

  child_slot(child_spec spec, clock::time_point epoch)
    : spec_(std::move(spec))
    , epoch_(epoch) {}

  const child_spec& spec() const noexcept { return spec_; }

  /// The running instance, or an invalid handle while down.
  caf::actor current() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  /// Whether it ever started (a lazy component that did not is started on
  /// first use; one that did and is now down is restarting or stopped).
  bool ever_started() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return starts_ > 0;
  }

  /// Whether the next use should start it: never started, or unloaded
  /// (stopped on purpose for being unused; the next use starts it again).
  bool startable_on_use() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return startable_locked();
  }

  /// The running instance, or none and whether the next use should start
  /// it, read under one lock: read apart, a start that finished between the
  /// two reads looked like a component that is down.
  std::pair<caf::actor, bool> current_or_startable() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return {current_, !current_ && startable_locked()};
  }

  void set_unloaded() {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = caf::actor{};
    unloaded_ = true;
  }

  void set_up(caf::actor a, clock::time_point began, clock::time_point ready) {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = std::move(a);
    if (starts_++ > 0 && !unloaded_)
      ++restarts_;
    unloaded_ = false;
    start_time_ = began - epoch_;
    load_duration_ = ready - began;
  }

  void set_down() {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = caf::actor{};
  }

  void record_use() {
    last_use_ns_.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - epoch_).count(),
        std::memory_order_relaxed);
    if (uses_.fetch_add(1, std::memory_order_relaxed) == 0) {
      std::lock_guard<std::mutex> guard{mtx_};
      first_use_ = clock::now() - epoch_;
    }
  }

  /// The values its knobs were last set to at run time, for its next
  /// instance (the supervisor writes them; a reload clears them).
  kept_knobs& kept() const noexcept { return kept_; }

  component_stats stats() const {
    std::lock_guard<std::mutex> guard{mtx_};
    component_stats s;
    s.name = spec_.name;
    s.prio = spec_.prio;
    s.running = static_cast<bool>(current_);
    s.starts = starts_;
    s.restarts = restarts_;
    if (starts_ > 0)
      s.start_time = start_time_;
    s.load_duration = load_duration_;
    s.first_use = first_use_;
    s.use_count = uses_.load(std::memory_order_relaxed);
    if (s.use_count > 0)
      s.last_use = std::chrono::nanoseconds{last_use_ns_.load(std::memory_order_relaxed)};
    s.unloaded = unloaded_;
    s.knobs = knobs_under(spec_);
    return s;
  }

private:
  bool startable_locked() const { return starts_ == 0 || unloaded_; }

  const child_spec spec_;
  const clock::time_point epoch_;
  mutable std::mutex mtx_;
  caf::actor current_;
  uint64_t starts_ = 0;
  uint64_t restarts_ = 0;
  timespan start_time_{0};
  timespan load_duration_{0};
  std::optional<timespan> first_use_;
  std::atomic<uint64_t> uses_{0};
  std::atomic<int64_t> last_use_ns_{0};
  bool unloaded_ = false;
  mutable kept_knobs kept_;
};

using slot_ptr = std::shared_ptr<child_slot>;

/// Sets `knob` on `instance`, the running instance of `slot`'s child, for
/// its supervisor `self`: a knob the child's own spec declares (not a
/// composite one) is set with a request of the supervisor's own, whose
/// reply (the value the owner applied) is kept for the child's next
/// instance before it goes to the sender; any other is forwarded. A
/// multiplexed request with a bound: the supervisor goes on with its other
/// messages and never hangs on it.
caf::result<double> set_and_keep(caf::event_based_actor* self, const slot_ptr& slot,
                                 const caf::actor& instance, const std::string& knob,
                                 double value);

/// Gives `instance`, a new instance of `slot`'s child, the values its knobs
/// were set to at run time before it went down: restarted after a crash,
/// restarted with its nested supervisor, or started again after rule 4
/// unloaded it (an unload is about memory, not about the tuning, which
/// stays valid while the config it started from is unchanged; a reload that
/// changes that config drops the kept value instead). Called before anyone
/// else has the instance's handle, so the set is the first message it
/// serves. Never waits; a failed set is logged and the value dropped.
void reapply_kept_knobs(caf::event_based_actor* self, const slot_ptr& slot,
                        const caf::actor& instance);

/// What the supervisor calls when it gives up (restart intensity exceeded).
using escalation_handler = std::function<void(caf::error)>;

/// Spawns the supervisor over `children`, given in start order.
caf::actor spawn_supervisor(caf::actor_system& sys, const supervisor_config& cfg,
                            std::vector<slot_ptr> children, escalation_handler on_escalate);

/// Spawns a nested supervisor named `name` over `children` (it starts the
/// critical ones at once). When it gives up it calls `on_give_up`, stops
/// its children and quits with `escalated`: its parent sees a failed child
/// and restarts it per its own policy and intensity (as Erlang/OTP does).
caf::actor spawn_nested_supervisor(caf::actor_system& sys, const std::string& name,
                                   const supervisor_config& cfg, std::vector<slot_ptr> children,
                                   escalation_handler on_give_up);

/// What a nested supervisor's handles share: its name, options, children
/// and current instance. Handles find a child's instance here at each call.
struct subtree {
  std::string name;
  supervisor_config cfg;
  mutable std::mutex mtx;
  std::vector<slot_ptr> slots;
  /// The current supervisor instance (weak: handles may outlive the node).
  caf::actor_addr supervisor;
  /// Down after giving up, until its parent restarts it.
  std::atomic<bool> gave_up{false};
  /// How often it gave up.
  std::atomic<uint64_t> give_ups{0};
  std::string give_up_reason;
  /// Supervisors nested under this one: it keeps their shared state (their
  /// start functions hold it weakly).
  std::vector<std::shared_ptr<subtree>> subtrees;

  slot_ptr find(const std::string& child) const {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& s : slots)
      if (s->spec().name == child)
        return s;
    return nullptr;
  }
};

/// A nested supervisor's shared state, before its first start.
std::shared_ptr<subtree> make_subtree(const std::string& name, supervisor_config options);

/// The child spec of a nested supervisor over `tree`: each start spawns a
/// new instance over the tree's children (which it starts again), so that a
/// parent restarting it brings the whole subtree back.
child_spec subtree_spec(const std::shared_ptr<subtree>& tree, restart policy);

} // namespace p21::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(p21::detail::slot_ptr)
