// Which child of a supervisor holds a knob: the child that declares it, or
// the nested supervisor with that child somewhere under it. A nested
// supervisor's spec carries its subtree as a shared object
// (`subtree_spec`), so its children are found without a message.

#include "detail/supervisor_actor.hpp"

namespace p21::detail {

namespace {

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

} // namespace p21::detail
