#pragma once

// The calls of a cache with `backend = "redis"` on one shard: the shard's
// store is the near tier, Redis the shared one. Used by the handle (on its
// caller's thread) and by the shard's detached workers (for requests from
// actors and peers); both block on Redis, bounded by `command_timeout`.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "redis_tier.hpp" // p21_redis
#include "shard.hpp"

namespace p21::cache_detail {

/// A cache's shards as the Redis tier reaches them: a key goes to its
/// shard's store. Holds the shards weakly (each shard holds the tier).
class near_shards : public redis_detail::near_tier {
public:
  explicit near_shards(const std::vector<std::shared_ptr<shard_shared>>& shards);

  void drop(std::string_view key) override;
  void request_flush(uint64_t seq) override;
  bool flushed(uint64_t seq, bool resend) override;

private:
  std::vector<std::weak_ptr<shard_shared>> shards_;
};

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
