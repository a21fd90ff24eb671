#include "p21/knob.hpp"

#include <algorithm>
#include <cmath>

#include "p21/error.hpp"

namespace p21 {

const knob_spec* find_knob(const knob_specs& specs, const std::string& name) {
  for (auto& k : specs)
    if (k.name == name)
      return &k;
  return nullptr;
}

caf::expected<double> knob_target(const knob_spec& spec, double value) {
  if (std::isnan(value))
    return make_error(errc::invalid_argument, "knob '" + spec.name + "': value is not a number");
  // Infinities clamp like any value past a bound.
  auto v = std::clamp(value, spec.min, spec.max);
  if (spec.integer)
    v = std::clamp(std::round(v), std::ceil(spec.min), std::floor(spec.max));
  return v;
}

caf::error unknown_knob(const std::string& name) {
  return make_error(errc::not_found, "no knob named '" + name + "'");
}

} // namespace p21
