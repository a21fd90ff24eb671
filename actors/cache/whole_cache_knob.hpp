#pragma once

// The knob of a sharded cache as a whole, `cache.NAME.max_entries`: its
// value is the sum of the shards' own knobs (`cache.NAME/K.max_entries`,
// which rule 2 tunes one shard at a time), read from the shards; a set
// splits the new total across the shards as the configured `max_entries`
// is split (`per_shard`). A component of its own, `cache.NAME`, owns it and
// reaches the shards' knobs through the node's supervisor, which keeps each
// shard's new value across that shard's restarts.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "p21/cache_config.hpp"
#include "p21/knob.hpp"
#include "p21/subsystem.hpp"

namespace p21::cache_detail {

/// The config keys of cache `cache`'s entries, bytes and ttl, in that
/// order (the default cache's are `[cache] async_maxsize`, `max_bytes`,
/// `async_ttl`; a named cache's `[caches.NAME] max_entries`, ...).
std::vector<std::string> cache_config_keys(const std::string& cache);

/// The config keys a cache's capacity starts from (the first two above): a
/// reload that changes one resizes its shards (`reload_caches`), so it
/// drops their kept run-time values.
std::vector<std::string> capacity_keys(const std::string& cache);

/// The knob of shard `k` of cache `name` with `shards` shards (of the
/// whole cache when it has one shard).
std::string shard_knob_name(const std::string& name, size_t k, size_t shards);

/// What a set of the whole cache to `total` gives each of `shards` shards.
std::vector<uint64_t> shares_of(uint64_t total, size_t shards);

/// The component `cache.NAME` that owns the whole-cache knob of a cache
/// with more than one shard. Critical, so that the knob shows from the
/// node's start (a read while the lazy shards are not started is answered
/// `unavailable`, as a shard's own knob is).
child_spec whole_cache_component(const std::string& name, const named_cache_config& cfg,
                                 std::shared_ptr<const node_view> view);

} // namespace p21::cache_detail
