#pragma once

#include <caf/fwd.hpp>

namespace p21 {

/// Announces every Perfect21 message type and the `p21` error category to a
/// CAF config, so they also cross the wire. The runtime calls it; call it
/// yourself for an actor system of your own that talks to Perfect21 actors.
void add_message_types(caf::actor_system_config& cfg);

} // namespace p21
