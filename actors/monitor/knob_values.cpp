#include "knob_values.hpp"

namespace p21 {

std::vector<std::pair<std::string, std::string>> knobs_of(const node_view* view) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!view || !view->stats || !view->supervisor)
    return out;
  for (auto& c : view->stats())
    if (c.running)
      for (auto& k : c.knobs)
        out.emplace_back(c.name, k.name);
  return out;
}

double seconds_of(caf::timespan t) {
  return std::chrono::duration<double>(t).count();
}

} // namespace p21
