// The cache handle: reads and writes go straight to the shard's table when
// the shard lives in this process, everything else (and every call to a
// peer's cache) is a request to the shard actor, waited for with a bound.
// The shards themselves are in cache_actor.cpp.

#include <functional>

#include <caf/all.hpp>

#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "cache_resources.hpp"
#include "p21/runtime.hpp"
#include "redis_backed.hpp"
#include "redis_tier.hpp"
#include "shard.hpp"

namespace p21 {

using namespace cache_detail;

// -- cache handle -------------------------------------------------------------

cache::cache(runtime& rt, std::string name, size_t shards)
  : rt_(&rt)
  , name_(std::move(name))
  , shards_(shards)
  , timeout_(rt.settings().runtime.request_timeout) {
  for (size_t i = 0; i < shards_; ++i)
    local_.push_back(rt.shared_object<shard_shared>(component(i)));
}

caf::expected<cache> cache::open(runtime& rt, const std::string& name) {
  size_t shards = 0;
  while (rt.component("cache." + name + "/" + std::to_string(shards)))
    ++shards;
  if (shards == 0)
    return make_error(errc::not_found, "no cache named '" + name + "'");
  return cache{rt, name, shards};
}

caf::expected<cache> cache::create(runtime& rt, const std::string& name, named_cache_config cfg) {
  if (name.empty() || cfg.shards == 0 || cfg.max_entries == 0 || cfg.max_bytes == 0)
    return make_error(errc::invalid_argument, "a cache needs a name and positive sizes");
  if (to_string(cfg.policy) == "?")
    return make_error(errc::invalid_argument, "unknown eviction policy");
  if (rt.component("cache." + name + "/0"))
    return make_error(errc::invalid_argument, "a cache named '" + name + "' already exists");
  std::shared_ptr<redis_tier> tier;
  if (cfg.backend == cache_backend::redis) {
    tier = rt.shared_object<redis_tier>("redis");
    if (!tier)
      return make_error(errc::invalid_argument,
                        "a cache with backend = \"redis\" needs a node whose config has one");
  }
  auto specs = cache_components(name, cfg, rt.settings().get<cache_config>().load_timeout, tier);
  cache_detail::track_cache_bytes(rt.resources(), name, specs);
  for (auto& spec : specs) {
    spec.prio = priority::critical;
    if (auto err = rt.add_component(std::move(spec)))
      return err;
  }
  return cache{rt, name, cfg.shards};
}

std::string cache::component(size_t i) const {
  return "cache." + name_ + "/" + std::to_string(i);
}

size_t cache::shard_index(const std::string& key) const {
  return shards_ == 1 ? 0 : key_hash(key) % shards_;
}

namespace {

/// `ensure_owner`'s slow path, out of line so that the check before it
/// inlines into every read (a call per hit otherwise).
[[gnu::noinline]] void start_owner(runtime& rt, const std::string& component,
                                   shard_shared& shard) {
  if (!rt.actor_of<cache_actor>(component))
    shard.store.drain_request_lost();
}

/// What a local writer does once its write is in the table and queued
/// (cache_store::settle): drain the buffers itself, ask the owner to, or
/// wait for it. `ask(wait)` is `request_drain`; `note_use` counts a drain
/// in place as a use of the shard, as a request counted one (rule 4).
template <class Ask, class NoteUse>
caf::error settle_write(cache_store& store, const cache_store::queued& q, Ask ask,
                        NoteUse note_use) {
  switch (store.settle(q)) {
  case cache_store::next_step::nothing:
    return caf::none;
  case cache_store::next_step::drained:
    note_use();
    return caf::none;
  case cache_store::next_step::ask_owner:
    static_cast<void>(ask(false));
    return caf::none;
  case cache_store::next_step::wait_for_owner:
    return ask(true);
  }
  return caf::none;
}

} // namespace

// Inlined into every read: out of line it was a call per hit.
[[gnu::always_inline]] inline void cache::ensure_owner(size_t s) {
  // An unloaded (or never started) shard starts on use, as any lazy
  // component does; its start drops what the previous owner held, so a
  // read after an unload finds the cache empty, never a stale entry. While
  // a crashed shard waits for its restart this fails at once, and the table
  // keeps answering.
  if (!local_[s]->running.load(std::memory_order_acquire))
    start_owner(*rt_, component(s), *local_[s]);
}

caf::error cache::request_drain(size_t s, bool wait) {
  // Reads served from the table count as uses of the shard for rule 4
  // (one per drain request, not per read).
  rt_->note_use(component(s));
  // A reader's note of use while the owner ticks: it drains soon anyway,
  // and no request was claimed (see cache_store::note_read).
  if (!wait && local_[s] && local_[s]->store.ticking() && !local_[s]->store.drain_pending())
    return caf::none;
  auto owner = local_[s]->owner();
  if (!owner || wait) {
    // Down, or not started yet (a lazy cache): the runtime starts it.
    auto h = rt_->actor_of<cache_actor>(component(s));
    if (!h) {
      local_[s]->store.drain_request_lost();
      return h.error();
    }
    owner = caf::actor_cast<caf::actor>(*h);
  }
  if (!wait) {
    caf::anon_send(owner, drain_atom::value);
    return caf::none;
  }
  auto r = rt_->request<bool>(owner, timeout_, drain_atom::value);
  return r ? caf::error{} : r.error();
}

std::function<caf::error(bool)> cache::drainer(size_t s) {
  return [this, s](bool wait) {
    return request_drain(s, wait);
  };
}

caf::expected<cache_actor> cache::shard_for(const std::string& key) {
  return rt_->actor_of<cache_actor>(component(shard_index(key)));
}

caf::expected<std::optional<std::string>> cache::get(const std::string& key) {
  auto hash = key_hash(key);
  auto s = shards_ == 1 ? 0 : hash % shards_;
  if (auto& local = local_[s]) {
    ensure_owner(s);
    if (local->tier)
      return redis_get(*local, key, hash, drainer(s));
    // Made from the stored bytes at once, in the object returned (a
    // lambda's named return value, then a prvalue): one allocation of the
    // value's size (assigned into an empty string it went through a slower
    // path) and no move.
    auto read = [&]() {
      caf::expected<std::optional<std::string>> out{std::optional<std::string>{}};
      bool drain = false;
      local->store.visit(
          key, hash, [&out](std::string_view v) { out->emplace(v.data(), v.size()); }, drain);
      if (drain)
        static_cast<void>(request_drain(s, false));
      return out;
    };
    return read();
  }
  auto r = ask<caf::optional<std::string>>(s, get_atom::value, key);
  if (!r)
    return r.error();
  if (!*r)
    return std::optional<std::string>{};
  return std::optional<std::string>{std::move(**r)};
}

caf::expected<bool> cache::visit_impl(const std::string& key, visitor call, void* f) {
  auto hash = key_hash(key);
  auto s = shards_ == 1 ? 0 : hash % shards_;
  auto& local = local_[s];
  if (!local || local->tier) {
    // A peer's shard or the Redis tier: the value arrives as a copy anyway.
    auto v = get(key);
    if (!v)
      return v.error();
    if (!*v)
      return false;
    call(f, **v);
    return true;
  }
  ensure_owner(s);
  bool drain = false;
  auto found = local->store.visit(key, hash, [&](std::string_view v) { call(f, v); }, drain);
  if (drain)
    static_cast<void>(request_drain(s, false));
  return found == lookup_result::hit;
}

caf::expected<std::vector<std::optional<std::string>>>
cache::get_many(const std::vector<std::string>& keys) {
  std::vector<std::vector<std::string>> by_shard(shards_);
  std::vector<std::vector<size_t>> positions(shards_);
  for (size_t i = 0; i < keys.size(); ++i) {
    auto s = shard_index(keys[i]);
    by_shard[s].push_back(keys[i]);
    positions[s].push_back(i);
  }
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t s = 0; s < shards_; ++s) {
    if (by_shard[s].empty())
      continue;
    if (auto& local = local_[s]) {
      ensure_owner(s);
      if (local->tier) {
        auto r = redis_get_many(*local, by_shard[s], drainer(s));
        if (!r)
          return r.error();
        for (size_t j = 0; j < r->size(); ++j)
          out[positions[s][j]] = std::move((*r)[j]);
        continue;
      }
      bool drain = false;
      for (size_t j = 0; j < by_shard[s].size(); ++j) {
        auto& key = by_shard[s][j];
        std::string value;
        bool d = false;
        if (local->store.lookup(key, key_hash(key), value, d) == lookup_result::hit)
          out[positions[s][j]] = std::move(value);
        drain = drain || d;
      }
      if (drain)
        static_cast<void>(request_drain(s, false));
      continue;
    }
    auto r = ask<std::vector<caf::optional<std::string>>>(s, get_atom::value, by_shard[s]);
    if (!r)
      return r.error();
    for (size_t j = 0; j < r->size(); ++j)
      if ((*r)[j])
        out[positions[s][j]] = std::move(*(*r)[j]);
  }
  return out;
}

caf::expected<std::string> cache::get_or_load(const std::string& key, const loader& load,
                                              timespan ttl) {
  auto shard = shard_index(key);
  auto& local = local_[shard];
  if (local && local->tier)
    return redis_get_or_load(shard, key, load, ttl);
  if (local) {
    ensure_owner(shard);
    std::string value;
    bool drain = false;
    auto found = local->store.lookup(key, key_hash(key), value, drain);
    if (drain)
      static_cast<void>(request_drain(shard, false));
    if (found == lookup_result::hit)
      return value;
  }
  auto run = [&]() -> caf::expected<std::string> {
    try {
      return load();
    } catch (const std::exception& e) {
      return make_error(errc::command_failed, std::string{"loader threw: "} + e.what());
    }
  };
  auto first = ask<load_reply>(shard, load_atom::value, key);
  if (!first) {
    // The shard is down or restarting: degrade to the loader alone rather
    // than fail the caller. A live shard's error (another caller's loader
    // failed or timed out) is the answer; a peer's cache has no fallback.
    if (!local || local->owner())
      return first.error();
    local->store.record_bypass();
    return run();
  }
  if (first->hit)
    return std::move(first->value);
  // Our turn to load; others asking for this key now wait for our result.
  auto value = run();
  if (!value) {
    static_cast<void>(ask<bool>(shard, load_failed_atom::value, key, value.error()));
    return value.error();
  }
  auto stored = ask<bool>(shard, loaded_atom::value, key, *value, ttl);
  if (!stored) {
    if (!local)
      return stored.error();
    local->store.record_bypass(); // the shard went down while we loaded
  }
  return value;
}

caf::expected<std::string> cache::redis_get_or_load(size_t shard, const std::string& key,
                                                    const loader& load, timespan ttl) {
  auto& local = *local_[shard];
  ensure_owner(shard);
  auto run = [&]() -> caf::expected<std::string> {
    try {
      return load();
    } catch (const std::exception& e) {
      return make_error(errc::command_failed, std::string{"loader threw: "} + e.what());
    }
  };
  auto hash = key_hash(key);
  auto drain = drainer(shard);
  auto turn = redis_begin_load(local, key, hash, drain);
  if (!turn) {
    // Redis is down: the loader alone answers, as with a shard that is down.
    if (!(turn.error() == errc::unavailable))
      return turn.error();
    local.store.record_bypass();
    return run();
  }
  if (turn->hit)
    return std::move(turn->value);
  auto value = run();
  if (redis_end_load(local, key, hash, value, ttl, drain) && value)
    local.store.record_bypass(); // loaded, not stored: Redis went away meanwhile
  return value;
}

void cache::note_bypass(const std::string& key) {
  if (auto& local = local_[shard_index(key)])
    local->store.record_bypass();
}

caf::error cache::put(const std::string& key, std::string_view value, timespan ttl) {
  auto hash = key_hash(key);
  auto s = shards_ == 1 ? 0 : hash % shards_;
  if (auto& local = local_[s]) {
    ensure_owner(s);
    if (local->tier)
      return redis_put(*local, key, hash, std::string{value}, ttl, drainer(s));
    auto q = local->store.write(key, hash, value, ttl);
    if (!q)
      return q.error();
    // Visible to every reader already; the owner accounts and evicts, or
    // this writer does (see cache_store::settle). A writer that finds the
    // queue full (in entries or bytes) waits for a drain: writes are never
    // dropped and the queue stays bounded.
    return settle_write(
        local->store, *q, [this, s](bool wait) { return request_drain(s, wait); },
        [this, s] { rt_->note_use(component(s)); });
  }
  auto r = ask<bool>(s, put_atom::value, key, std::string{value}, ttl);
  return r ? caf::error{} : r.error();
}

caf::expected<bool> cache::erase(const std::string& key) {
  auto hash = key_hash(key);
  auto s = shards_ == 1 ? 0 : hash % shards_;
  if (auto& local = local_[s]) {
    ensure_owner(s);
    if (local->tier)
      return redis_erase(*local, key, hash, drainer(s));
    cache_store::queued q;
    auto removed = local->store.remove(key, hash, q);
    if (auto err = settle_write(
            local->store, q, [this, s](bool wait) { return request_drain(s, wait); },
            [this, s] { rt_->note_use(component(s)); }))
      return err;
    return removed;
  }
  return ask<bool>(s, erase_atom::value, key);
}

caf::expected<uint64_t> cache::clear() {
  uint64_t total = 0;
  for (size_t s = 0; s < shards_; ++s) {
    auto r = ask<uint64_t>(s, clear_atom::value);
    if (!r)
      return r.error();
    total += *r;
  }
  return total;
}

caf::expected<shrink_result> cache::shrink(double fraction) {
  if (!(fraction > 0 && fraction <= 1))
    return make_error(errc::invalid_argument, "shrink fraction must be in (0, 1]");
  shrink_result total;
  for (size_t s = 0; s < shards_; ++s) {
    auto r = ask<shrink_result>(s, shrink_atom::value, fraction);
    if (!r)
      return r.error();
    total.entries += r->entries;
    total.bytes += r->bytes;
  }
  return total;
}

void cache::wait_for_freed_values() {
  cache_detail::wait_for_deferred_frees();
}

caf::error cache::resize(uint64_t max_entries, uint64_t max_bytes) {
  if (max_entries == 0 || max_bytes == 0)
    return make_error(errc::invalid_argument, "cache capacity must be positive");
  for (size_t s = 0; s < shards_; ++s) {
    auto r = ask<bool>(s, resize_atom::value, per_shard(max_entries, shards_),
                       per_shard(max_bytes, shards_));
    if (!r)
      return r.error();
  }
  return caf::none;
}

caf::error cache::set_ttl(timespan ttl) {
  for (size_t s = 0; s < shards_; ++s) {
    auto r = ask<bool>(s, set_ttl_atom::value, ttl);
    if (!r)
      return r.error();
  }
  return caf::none;
}

caf::expected<std::vector<cache_stats>> cache::shard_stats() {
  std::vector<cache_stats> out;
  for (size_t s = 0; s < shards_; ++s) {
    auto r = ask<cache_stats>(s, stats_atom::value);
    if (!r)
      return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

caf::expected<cache_stats> cache::stats() {
  auto all = shard_stats();
  if (!all)
    return all.error();
  cache_stats sum;
  sum.name = name_;
  for (auto& s : *all) {
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.puts += s.puts;
    sum.evictions += s.evictions;
    sum.expirations += s.expirations;
    sum.load_successes += s.load_successes;
    sum.load_failures += s.load_failures;
    sum.load_time += s.load_time;
    sum.entries += s.entries;
    sum.bytes += s.bytes;
    sum.max_entries += s.max_entries;
    sum.max_bytes += s.max_bytes;
    sum.restarts += s.restarts;
    sum.loads_in_flight += s.loads_in_flight;
    sum.load_waiters += s.load_waiters;
    sum.capacity_misses += s.capacity_misses;
    sum.bypasses += s.bypasses;
    if (sum.ghost_hit_depths.size() < s.ghost_hit_depths.size())
      sum.ghost_hit_depths.resize(s.ghost_hit_depths.size());
    for (size_t i = 0; i < s.ghost_hit_depths.size(); ++i)
      sum.ghost_hit_depths[i] += s.ghost_hit_depths[i];
  }
  return sum;
}

} // namespace p21
