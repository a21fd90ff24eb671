#pragma once

// What a cache holds, registered with the node's resource manager.

#include <string>
#include <vector>

#include "p21/fwd.hpp"

namespace p21::cache_detail {

/// Registers the bytes cache `name` holds (every shard of `specs`, as
/// `cache_components` made them) with `rm`, as kind "memory". A stopped
/// shard holds none, so bytes still held after shutdown are a leak.
void track_cache_bytes(resource_manager& rm, const std::string& name,
                       const std::vector<child_spec>& specs);

} // namespace p21::cache_detail
