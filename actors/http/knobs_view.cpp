#include "knobs_view.hpp"

#include <caf/all.hpp>

#include "p21/error.hpp"
#include "p21/knob.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/request.hpp"

namespace p21 {

namespace {

using json = nlohmann::json;

/// Bound of one knob's read: the owner answers from its state at once.
constexpr auto knob_timeout = std::chrono::seconds{2};

json knob_json(caf::actor_system& sys, const node_view& view, const knob_spec& k) {
  json j = {{"name", k.name}, {"value", nullptr},    {"min", k.min},   {"max", k.max},
            {"integer", k.integer}, {"unit", k.unit}, {"help", k.help}};
  if (!view.supervisor) {
    j["error"] = "the node has no supervisor";
    return j;
  }
  auto v = blocking_request<double>(sys, view.supervisor, knob_timeout, get_knob_atom::value,
                                    k.name);
  if (v)
    j["value"] = *v;
  else
    j["error"] = render(v.error());
  return j;
}

} // namespace

json knobs_json(caf::actor_system& sys, const node_view& view, const knob_specs& knobs) {
  json out = json::array();
  for (auto& k : knobs)
    out.push_back(knob_json(sys, view, k));
  return out;
}

json all_knobs_json(caf::actor_system& sys, const node_view& view) {
  json out = json::object();
  if (!view.stats)
    return out;
  for (auto& c : view.stats())
    for (auto& k : c.knobs) {
      auto j = knob_json(sys, view, k);
      j.erase("name");
      j.erase("help");
      j["component"] = c.name;
      out[k.name] = std::move(j);
    }
  return out;
}

} // namespace p21
