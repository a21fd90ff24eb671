#pragma once

#include <vector>

#include <caf/fwd.hpp>

#include "p21/fwd.hpp"

namespace p21 {

/// Announces every standard Perfect21 message type and the `p21` error
/// category to a CAF config, so they also cross the wire. The runtime calls
/// it; call it yourself for an actor system of your own that talks to
/// Perfect21 actors. Defined by the umbrella library.
void add_message_types(caf::actor_system_config& cfg);

/// The framework's own types (errors, metrics) and those of `subsystems`.
void add_message_types(caf::actor_system_config& cfg, const std::vector<subsystem>& subsystems);

} // namespace p21
