#pragma once

// `/summary`'s "resources": what the node holds (`runtime::resources()`).

#include <nlohmann/json.hpp>

#include "p21/fwd.hpp"

namespace p21::http_detail {

/// `{"held": [{name, kind, amount, owner, pool}...], "totals": {KIND: sum}}`;
/// the pools (db connections, subprocess processes, cache bytes) measured
/// now.
nlohmann::json resources_json(const resource_manager& rm);

} // namespace p21::http_detail
