#pragma once

// Which knob carries out one of the built-in rules' typed decisions. A pool
// size, a cache shard's capacity, the subprocess limit and the monitor's
// interval are knobs their owners declare; sent as a knob set through the
// node's supervisor (like a rule's `set_knob`), the value the owner applied
// is kept by the supervisor across the owner's restarts, so a crash does
// not undo the tuning (a reload of the key behind the knob still does).

#include <optional>
#include <string>
#include <vector>

#include "engine.hpp"
#include "p21/supervisor.hpp"

namespace p21 {

/// The knob component `d.target` declares for `d`'s kind (set_pool_size:
/// `*.pool_size`, resize_cache: `*.max_entries`, set_max_processes:
/// `*.max_processes`, set_monitor_interval: `*.interval`) among the node's
/// `components`, or none: then `d` goes to the component as a typed
/// message, as before.
std::optional<std::string> knob_for(const decision& d,
                                    const std::vector<component_stats>& components);

/// A knob's applied value for the action log: a count without decimals.
std::string applied_text(double v);

} // namespace p21
