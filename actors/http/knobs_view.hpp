#pragma once

// The knobs as /components and /summary show them: each with its bounds
// and its value now, read from its owner through the supervisor.

#include <nlohmann/json.hpp>

#include <caf/fwd.hpp>

#include "p21/subsystem.hpp"

namespace p21 {

/// `[{name, value, min, max, integer, unit, help}]` for `knobs`; `value` is
/// null (and `error` says why) when the owner does not answer.
nlohmann::json knobs_json(caf::actor_system& sys, const node_view& view, const knob_specs& knobs);

/// `{KNOB: {component, value, min, max, integer, unit}}` for every knob of
/// the node.
nlohmann::json all_knobs_json(caf::actor_system& sys, const node_view& view);

} // namespace p21
