// A Redis-backed shard's calls. A value read from Redis enters the near tier
// only if no invalidation of its key (and no flush) came in since before the
// read; otherwise the insert is taken back, so that a late reply never
// outlives the change Redis reported.

#include "redis_backed.hpp"

#include <thread>

#include "key_hash.hpp"
#include "redis_tier.hpp"

namespace p21::cache_detail {

namespace {

/// Near-tier writes the owner is woken for at once: a Redis miss is already
/// a round trip, and waking the shard actor for each of its inserts (a third
/// runnable thread) costs a miss more than the insert itself.
constexpr size_t drain_batch = 64;

void settle(cache_store& store, const cache_store::queued& q, const drain_fn& drain) {
  if (q.full)
    static_cast<void>(drain(true));
  else if (q.drain && q.pending >= drain_batch)
    static_cast<void>(drain(false));
  else if (q.drain)
    store.drain_request_lost(); // the next writer asks again
}

void near_remove(shard_shared& sh, const std::string& key, uint64_t hash, const drain_fn& drain) {
  cache_store::queued q;
  sh.store.remove(key, hash, q);
  settle(sh.store, q, drain);
}

void near_insert(shard_shared& sh, const std::string& key, uint64_t hash, const std::string& value,
                 timespan ttl, const std::string& redis_key, redis_tier::mark m,
                 const drain_fn& drain) {
  auto q = sh.store.write(key, hash, value, ttl, clock::now());
  if (!q)
    return; // larger than the near tier: Redis alone holds it
  if (!sh.tier->unchanged(redis_key, m)) {
    cache_store::queued q2;
    sh.store.remove(key, hash, q2);
  }
  settle(sh.store, *q, drain);
}

/// A near-tier hit, when the tier may serve one.
bool near_lookup(shard_shared& sh, const std::string& key, uint64_t hash, std::string& out,
                 const drain_fn& drain) {
  auto& tier = *sh.tier;
  if (!tier.coherent()) {
    tier.note_near_miss();
    return false;
  }
  bool d = false;
  auto found = sh.store.lookup(key, hash, out, d) == lookup_result::hit;
  if (d)
    static_cast<void>(drain(false));
  if (found)
    tier.note_near_hit();
  else
    tier.note_near_miss();
  return found;
}

} // namespace

caf::expected<std::optional<std::string>> redis_get(shard_shared& sh, const std::string& key,
                                                    uint64_t hash, const drain_fn& drain) {
  std::optional<std::string> out{std::in_place};
  if (near_lookup(sh, key, hash, *out, drain))
    return out;
  auto& tier = *sh.tier;
  auto rkey = tier.key(sh.cache_name, key);
  auto m = tier.mark_of(rkey);
  auto v = tier.get(rkey);
  if (!v)
    return v.error();
  if (*v)
    near_insert(sh, key, hash, **v, timespan{0}, rkey, m, drain);
  return v;
}

caf::expected<std::vector<std::optional<std::string>>>
redis_get_many(shard_shared& sh, const std::vector<std::string>& keys, const drain_fn& drain) {
  auto& tier = *sh.tier;
  std::vector<std::optional<std::string>> out(keys.size());
  std::vector<size_t> missing;
  std::vector<std::string> rkeys;
  std::vector<redis_tier::mark> marks;
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string v;
    if (near_lookup(sh, keys[i], key_hash(keys[i]), v, drain)) {
      out[i] = std::move(v);
      continue;
    }
    missing.push_back(i);
    rkeys.push_back(tier.key(sh.cache_name, keys[i]));
    marks.push_back(tier.mark_of(rkeys.back()));
  }
  if (missing.empty())
    return out;
  auto got = tier.mget(rkeys);
  if (!got)
    return got.error();
  for (size_t j = 0; j < missing.size(); ++j) {
    auto i = missing[j];
    if (!(*got)[j])
      continue;
    near_insert(sh, keys[i], key_hash(keys[i]), *(*got)[j], timespan{0}, rkeys[j], marks[j], drain);
    out[i] = std::move((*got)[j]);
  }
  return out;
}

caf::error redis_put(shard_shared& sh, const std::string& key, uint64_t hash,
                     const std::string& value, timespan ttl, const drain_fn& drain) {
  auto& tier = *sh.tier;
  auto effective = ttl.count() > 0 ? ttl : sh.store.config().ttl;
  auto rkey = tier.key(sh.cache_name, key);
  auto m = tier.mark_of(rkey);
  auto now = tier.set(rkey, value, effective);
  if (!now) {
    // Whether Redis took it or not is unknown: the near tier must not keep
    // the value it had before.
    near_remove(sh, key, hash, drain);
    return now.error();
  }
  if (*now)
    near_insert(sh, key, hash, **now, ttl, rkey, m, drain);
  else
    near_remove(sh, key, hash, drain);
  return caf::none;
}

caf::expected<bool> redis_erase(shard_shared& sh, const std::string& key, uint64_t hash,
                                const drain_fn& drain) {
  auto& tier = *sh.tier;
  auto removed = tier.del(tier.key(sh.cache_name, key));
  near_remove(sh, key, hash, drain);
  return removed;
}

caf::expected<load_turn> redis_begin_load(shard_shared& sh, const std::string& key, uint64_t hash,
                                          const drain_fn& drain, timespan hold) {
  auto& tier = *sh.tier;
  load_turn turn;
  if (near_lookup(sh, key, hash, turn.value, drain)) {
    turn.hit = true;
    return turn;
  }
  auto rkey = tier.key(sh.cache_name, key);
  auto lock = tier.lock_key(rkey);
  auto m = tier.mark_of(rkey);
  auto v = tier.get(rkey);
  if (!v)
    return v.error();
  auto found = [&](std::string value) {
    near_insert(sh, key, hash, value, timespan{0}, rkey, m, drain);
    turn.hit = true;
    turn.value = std::move(value);
    return turn;
  };
  if (*v)
    return found(std::move(**v));
  // One loader across every node: the lock lapses after load_timeout, so a
  // node that dies while loading strands no one for longer.
  auto deadline = clock::now() + sh.load_timeout;
  auto turn_lapses = hold.count() > 0 ? std::min(hold, sh.load_timeout) : sh.load_timeout;
  while (true) {
    auto mine = tier.try_lock(lock, turn_lapses);
    if (!mine)
      return mine.error();
    if (*mine)
      return turn;
    tier.note_lock_wait();
    auto pause = std::chrono::microseconds{500};
    while (true) {
      if (clock::now() >= deadline)
        return make_error(errc::timeout, "the loader of this key (on another node) did not "
                                         "report within load_timeout");
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds{20});
      m = tier.mark_of(rkey);
      auto r = tier.get_and_lock_held(rkey, lock);
      if (!r)
        return r.error();
      if (r->first)
        return found(std::move(*r->first));
      if (!r->second)
        break; // released without a value (its loader failed): try to load
    }
  }
}

caf::error redis_end_load(shard_shared& sh, const std::string& key, uint64_t hash,
                          const caf::expected<std::string>& value, timespan ttl,
                          const drain_fn& drain) {
  auto& tier = *sh.tier;
  auto lock = tier.lock_key(tier.key(sh.cache_name, key));
  caf::error err;
  if (value) {
    sh.redis_loads.fetch_add(1, std::memory_order_relaxed);
    err = redis_put(sh, key, hash, *value, ttl, drain);
  } else {
    sh.redis_load_failures.fetch_add(1, std::memory_order_relaxed);
  }
  tier.unlock(lock);
  return err;
}

// -- near_shards ----------------------------------------------------------------

near_shards::near_shards(const std::vector<std::shared_ptr<shard_shared>>& shards)
  : shards_(shards.begin(), shards.end()) {}

void near_shards::drop(std::string_view key) {
  if (shards_.empty())
    return;
  auto hash = key_hash(key);
  auto shard = shards_[shards_.size() == 1 ? 0 : hash % shards_.size()].lock();
  if (!shard)
    return;
  cache_store::queued q;
  shard->store.remove(key, hash, q);
  if (q.drain || q.full)
    shard->poke();
}

void near_shards::request_flush(uint64_t seq) {
  for (auto& weak : shards_)
    if (auto s = weak.lock())
      s->request_flush(seq);
}

bool near_shards::flushed(uint64_t seq, bool resend) {
  bool done = true;
  for (auto& weak : shards_)
    if (auto s = weak.lock(); s && s->flushed.load() < seq) {
      done = false;
      if (resend)
        s->request_flush(seq);
    }
  return done;
}

} // namespace p21::cache_detail
