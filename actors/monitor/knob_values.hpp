#pragma once

// What the monitor reads for `p21_knob_value` each round: every knob of a
// running component (nested supervisors' children included), by component.

#include <string>
#include <utility>
#include <vector>

#include <caf/timespan.hpp>

#include "p21/knob.hpp"
#include "p21/subsystem.hpp"

namespace p21 {

/// (component, knob) for each knob of a running component in `view`.
std::vector<std::pair<std::string, std::string>> knobs_of(const node_view* view);

/// `t` in seconds, as a knob counts time.
double seconds_of(caf::timespan t);

} // namespace p21
