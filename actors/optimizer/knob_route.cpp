#include "knob_route.hpp"

#include <cmath>
#include <cstdint>

namespace p21 {

namespace {

/// The end of the knob's name that carries out `kind`, or null.
const char* knob_suffix(decision::kind_t kind) {
  switch (kind) {
  case decision::set_pool_size:
    return ".pool_size";
  case decision::resize_cache:
    return ".max_entries";
  case decision::set_max_processes:
    return ".max_processes";
  case decision::set_monitor_interval:
    return ".interval";
  default:
    return nullptr;
  }
}

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

} // namespace

std::optional<std::string> knob_for(const decision& d,
                                    const std::vector<component_stats>& components) {
  auto suffix = knob_suffix(d.kind);
  if (!suffix)
    return std::nullopt;
  for (auto& c : components) {
    if (c.name != d.target)
      continue;
    // Its own knob, not one of a child's (a component declares its own
    // first) nor a composite one.
    for (auto& k : c.knobs)
      if (ends_with(k.name, suffix) && !k.composite)
        return k.name;
    return std::nullopt;
  }
  return std::nullopt;
}

std::string applied_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(int64_t(v));
  return std::to_string(v);
}

} // namespace p21
