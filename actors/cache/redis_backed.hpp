#pragma once

// The calls of a cache with `backend = "redis"` on one shard: the shard's
// store is the near tier, Redis the shared one. Used by the handle (on its
// caller's thread) and by the shard's detached workers (for requests from
// actors and peers); both block on Redis, bounded by `command_timeout`.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "shard.hpp"

namespace p21::cache_detail {

/// How a caller asks the shard's owner to drain what it wrote; `wait` when
/// the write queue is full (writes are never dropped).
using drain_fn = std::function<caf::error(bool wait)>;

caf::expected<std::optional<std::string>> redis_get(shard_shared& sh, const std::string& key,
                                                    uint64_t hash, const drain_fn& drain);

/// One `MGET` for the keys the near tier does not hold.
caf::expected<std::vector<std::optional<std::string>>>
redis_get_many(shard_shared& sh, const std::vector<std::string>& keys, const drain_fn& drain);

caf::error redis_put(shard_shared& sh, const std::string& key, uint64_t hash,
                     const std::string& value, timespan ttl, const drain_fn& drain);

caf::expected<bool> redis_erase(shard_shared& sh, const std::string& key, uint64_t hash,
                                const drain_fn& drain);

/// The first half of `get_or_load`: the value (near tier, Redis, or another
/// node's loader waited for, bounded by `load_timeout`), or the caller's
/// turn to load (`hit` false: this node holds the key's lock). `unavailable`
/// when Redis is down: the caller then loads alone (a bypass).
struct load_turn {
  bool hit = false;
  std::string value;
};

/// `hold` (zero: `load_timeout`) bounds how long the turn keeps the lock.
caf::expected<load_turn> redis_begin_load(shard_shared& sh, const std::string& key, uint64_t hash,
                                          const drain_fn& drain, timespan hold = timespan{0});

/// The second half: stores a loaded value (Redis, then the near tier) and
/// releases the lock; a failed load only releases it.
caf::error redis_end_load(shard_shared& sh, const std::string& key, uint64_t hash,
                          const caf::expected<std::string>& value, timespan ttl,
                          const drain_fn& drain);

} // namespace p21::cache_detail
