// The runtime's knob calls: a get or set goes to the node's supervisor,
// which forwards it to the knob's owner at any depth (`p21/knob.hpp`).

#include "detail/runtime_impl.hpp"
#include "p21/protocol/atoms.hpp"

namespace p21 {

caf::expected<double> runtime::knob(const std::string& name) {
  if (!impl_->supervisor)
    return make_error(errc::unavailable, "the runtime is shutting down");
  return request<double>(impl_->supervisor, settings().runtime.request_timeout,
                         get_knob_atom::value, name);
}

caf::expected<double> runtime::set_knob(const std::string& name, double value) {
  if (!impl_->supervisor)
    return make_error(errc::unavailable, "the runtime is shutting down");
  return request<double>(impl_->supervisor, settings().runtime.request_timeout,
                         set_knob_atom::value, name, value);
}

knob_specs runtime::knobs() const {
  std::vector<detail::slot_ptr> slots;
  {
    std::lock_guard<std::mutex> guard{impl_->components_mtx};
    slots = impl_->slots;
  }
  knob_specs out;
  for (auto& s : slots) {
    auto more = detail::knobs_under(s->spec());
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

} // namespace p21
