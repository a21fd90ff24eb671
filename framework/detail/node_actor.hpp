#pragma once

// The node actor: the owner of the node-wide resources the optimizer acts on
// (the log file, the memory-pressure handlers and the heap, the state
// directory). The runtime spawns it beside the supervisor; components reach
// it through `node_view::node`.

#include <string>

#include <caf/fwd.hpp>

#include "p21/protocol/node.hpp"
#include "p21/resources.hpp"

namespace p21::detail {

/// Spawns the node actor on its own thread (detached): rotating the log,
/// fsyncing the preload list and `malloc_trim` block, which a CAF scheduler
/// thread must not. `state_dir` empty means no state is kept. `resources`
/// must outlive the actor.
node_actor spawn_node_actor(caf::actor_system& sys, std::string state_dir,
                            resource_manager& resources);

} // namespace p21::detail
