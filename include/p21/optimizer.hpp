#pragma once

// The optimizer: the eight rules as stable controllers. Every
// `optimization_interval` it reads the node's metrics and carries out its
// decisions by messaging the actors that own each resource (caches, the db
// pool, the subprocess pool, the monitor, the supervisor and the node actor,
// which owns the log file, the pressure handlers and the state directory).
// Talk to it through `optimizer_actor` (p21/protocol/optimizer.hpp).

#include <memory>
#include <string>

#include "p21/config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/runtime.hpp"

namespace p21 {

/// The optimizer's component spec: reads the monitor and the subsystems,
/// acts every `optimization_interval` (dry run when `auto_optimization` is
/// false), records actions as monitor events and in
/// `p21_optimizer_actions_total{rule}`.
child_spec optimizer_component(const std::string& name, const config& cfg,
                               std::shared_ptr<const node_view> view);

} // namespace p21
