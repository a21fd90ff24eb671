#pragma once

// The "redis" component: owns the node's Redis tier while it runs.

#include <memory>

#include "p21/fwd.hpp"
#include "p21/supervisor.hpp"

namespace p21::redis_detail {

class redis_tier;

/// The component that starts `tier` (its invalidation thread runs while the
/// component does), stops it when it ends and answers `metrics_atom` with
/// its metrics. A refused login is its start error.
child_spec redis_component(std::shared_ptr<redis_tier> tier);

/// Declares `[redis]`'s keys (the cache, which owns the tier, calls it).
void declare_redis_keys(config_schema& schema);

} // namespace p21::redis_detail
