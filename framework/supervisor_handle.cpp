// Handles to nested supervisors and their children (`rt.spawn_supervisor`):
// they resolve the child's current instance at each call, so that a handle
// taken before a restart keeps working after it.

#include <caf/all.hpp>

#include "detail/supervisor_actor.hpp"
#include "p21/error.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/runtime.hpp"

namespace p21 {

using clock = std::chrono::steady_clock;

caf::expected<caf::actor> child_handle::actor() const {
  if (!tree_)
    return rt_->actor_of(name_);
  if (tree_->gave_up)
    return make_error(errc::unavailable, "supervisor '" + tree_->name + "' gave up");
  auto slot = tree_->find(name_);
  if (!slot)
    return make_error(errc::not_found,
                      "no child named '" + name_ + "' under supervisor '" + tree_->name + "'");
  slot->record_use();
  if (auto a = slot->current())
    return a;
  return make_error(errc::unavailable, "child '" + name_ + "' is down");
}

const std::string& supervisor_handle::name() const noexcept {
  return tree_->name;
}

bool supervisor_handle::given_up() const noexcept {
  return tree_->gave_up;
}

std::string supervisor_handle::reason() const {
  std::lock_guard<std::mutex> guard{tree_->mtx};
  return tree_->give_up_reason;
}

std::vector<component_stats> supervisor_handle::children() const {
  std::lock_guard<std::mutex> guard{tree_->mtx};
  std::vector<component_stats> out;
  for (auto& s : tree_->slots)
    out.push_back(s->stats());
  return out;
}

namespace {

/// Adds `slot` under the current instance of `tree`'s supervisor (it starts
/// at once) and registers it with the tree.
caf::error add_to_subtree(runtime& rt, detail::subtree& tree, const detail::slot_ptr& slot) {
  if (tree.gave_up)
    return make_error(errc::unavailable, "supervisor '" + tree.name + "' gave up");
  caf::actor sup;
  {
    std::lock_guard<std::mutex> guard{tree.mtx};
    sup = caf::actor_cast<caf::actor>(tree.supervisor);
  }
  if (!sup)
    return make_error(errc::unavailable, "supervisor '" + tree.name + "' is down");
  auto added = rt.request<bool>(sup, rt.settings().runtime.request_timeout, add_child_atom::value,
                                slot, true);
  release_thread();
  if (!added && !is(added.error(), errc::unavailable))
    return added.error();
  {
    // Registered even when its first start failed (the supervisor holds it).
    std::lock_guard<std::mutex> guard{tree.mtx};
    tree.slots.push_back(slot);
  }
  return added ? caf::error{} : added.error();
}

} // namespace

caf::expected<child_handle> supervisor_handle::spawn(child_spec spec) {
  if (!spec.start)
    return make_error(errc::invalid_argument, "child '" + spec.name + "' has no start function");
  spec.prio = priority::critical;
  auto name = spec.name;
  auto slot = std::make_shared<detail::child_slot>(std::move(spec), clock::now());
  if (auto err = add_to_subtree(*rt_, *tree_, slot))
    return err;
  return child_handle{*rt_, name, tree_};
}

caf::expected<supervisor_handle> supervisor_handle::spawn_supervisor(const std::string& name,
                                                                     supervisor_config options,
                                                                     restart policy) {
  auto tree = detail::make_subtree(name, options);
  auto slot =
      std::make_shared<detail::child_slot>(detail::subtree_spec(tree, policy), clock::now());
  if (auto err = add_to_subtree(*rt_, *tree_, slot))
    return err;
  {
    std::lock_guard<std::mutex> guard{tree_->mtx};
    tree_->subtrees.push_back(tree);
  }
  return supervisor_handle{*rt_, std::move(tree)};
}

uint64_t supervisor_handle::give_ups() const noexcept {
  return tree_->give_ups;
}

} // namespace p21
