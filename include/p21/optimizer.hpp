#pragma once

// The optimizer: the nine rules as stable controllers. Every
// `optimization_interval` it reads the node's metrics and carries out its
// decisions by messaging the actors that own each resource (caches, the db
// pool, the subprocess pool, the monitor, the supervisor and the node actor,
// which owns the log file, the pressure handlers and the state directory).
// Talk to it through `optimizer_actor` (p21/protocol/optimizer.hpp). An
// application adds rules of its own, on its own metrics and knobs, with
// `p21::tuning_rule` (p21/rule.hpp).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "p21/config.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/runtime.hpp"

namespace p21 {

/// The names of the nine optimization rules, in priority order.
const std::vector<std::string>& rule_names();

/// The nine rules with the report's thresholds and a hysteresis band.
std::map<std::string, rule_config> default_rules();

/// Rule `name` of `cfg`, added with its defaults if `cfg` does not set it
/// yet: `p21::rule(cfg, "cpu_usage").threshold = 90`. Throws
/// `std::invalid_argument` for a name that is not a rule.
rule_config& rule(config& cfg, const std::string& name);

/// The optimizer's component spec: reads the monitor and the subsystems,
/// acts every `optimization_interval` (dry run when `auto_optimization` is
/// false), records actions as monitor events and in
/// `p21_optimizer_actions_total{rule}`.
child_spec optimizer_component(const std::string& name, const config& cfg,
                               std::shared_ptr<const node_view> view);

} // namespace p21
