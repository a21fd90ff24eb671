#pragma once

#include <vector>

#include <caf/fwd.hpp>

#include "p21/fwd.hpp"

namespace p21 {

/// The framework's own types (errors, metrics) and those of `subsystems`,
/// announced to a CAF config so they also cross the wire. The standard set
/// (`add_message_types(cfg)`) is in p21/subsystems.hpp.
void add_message_types(caf::actor_system_config& cfg, const std::vector<subsystem>& subsystems);

} // namespace p21
