// Which child of a supervisor holds a knob: the child that declares it, or
// the nested supervisor with that child somewhere under it. A nested
// supervisor's spec carries its subtree as a shared object
// (`subtree_spec`), so its children are found without a message.

#include "detail/supervisor_actor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/error.hpp"

namespace p21::detail {

namespace {

/// How long a supervisor waits for an owner's reply to its own get or set
/// (while it goes on with its other messages): an owner answers from its
/// state at once, so only a hung owner reaches this, and then the pending
/// reply handler is dropped instead of kept forever.
constexpr auto knob_set_timeout = std::chrono::seconds{60};

std::vector<slot_ptr> children_of(const child_spec& spec) {
  auto tree = spec.shared.get<subtree>();
  if (!tree)
    return {};
  std::lock_guard<std::mutex> guard{tree->mtx};
  return tree->slots;
}

} // namespace

knob_specs knobs_under(const child_spec& spec) {
  auto out = spec.knobs;
  for (auto& child : children_of(spec)) {
    auto more = knobs_under(child->spec());
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

bool holds_knob(const child_spec& spec, const std::string& knob) {
  if (find_knob(spec.knobs, knob))
    return true;
  for (auto& child : children_of(spec))
    if (holds_knob(child->spec(), knob))
      return true;
  return false;
}

caf::result<double> set_and_keep(caf::event_based_actor* self, const slot_ptr& slot,
                                 const caf::actor& instance, const std::string& knob,
                                 double value) {
  auto spec = find_knob(slot->spec().knobs, knob);
  // What the owner refuses anyway (NaN) changes nothing to keep.
  if (!spec || spec->composite || !knob_target(*spec, value)) {
    self->delegate(instance, set_knob_atom::value, knob, value);
    return caf::delegated<double>{};
  }
  // Sent by this supervisor, not forwarded: the sender hears the value
  // only once it is kept. Forwarded, the owner answered the sender
  // straight away, and this supervisor asked for the value with a request
  // of its own, which a crash the sender caused right after its answer
  // could overtake; the owner's next instance then started without it.
  auto ticket = slot->kept().begin_set(knob);
  auto promise = self->make_response_promise<double>();
  self->request(instance, knob_set_timeout, set_knob_atom::value, knob, value)
      .then(
          [slot, knob, ticket, promise](double applied) mutable {
            slot->kept().accepted(knob, ticket, applied);
            promise.deliver(applied);
          },
          [promise](caf::error& err) mutable {
            // Refused, down or hung: the value kept before stays.
            promise.deliver(std::move(err));
          });
  return promise;
}

void reapply_kept_knobs(caf::event_based_actor* self, const slot_ptr& slot,
                        const caf::actor& instance) {
  auto& spec = slot->spec();
  for (auto& [knob, value] : slot->kept().values()) {
    auto k = find_knob(spec.knobs, knob);
    if (!k || k->composite)
      continue;
    auto ticket = slot->kept().begin_set(knob);
    spdlog::info("component '{}' started again: setting knob '{}' to {}, its run-time value",
                 spec.name, knob, value);
    self->request(instance, knob_set_timeout, set_knob_atom::value, knob, value)
        .then([slot, knob = knob, ticket](
                  double applied) { slot->kept().accepted(knob, ticket, applied); },
              [slot, knob = knob, ticket](caf::error& err) {
                spdlog::warn("component '{}': knob '{}' could not be set again after its start "
                             "({}); it keeps its configured value",
                             slot->spec().name, knob, render(err));
                slot->kept().refused(knob, ticket);
              });
  }
}

void forget_reloaded_knobs(const std::vector<slot_ptr>& slots,
                           const std::vector<std::string>& changed_keys) {
  for (auto& slot : slots) {
    auto& spec = slot->spec();
    for (auto& knob : slot->kept().forget_reloaded(spec.knobs, changed_keys))
      spdlog::info("reload: knob '{}' of '{}' follows the reloaded config from now on (its "
                   "run-time value is no longer kept for a restart)",
                   knob, spec.name);
    forget_reloaded_knobs(children_of(spec), changed_keys);
  }
}

} // namespace p21::detail
