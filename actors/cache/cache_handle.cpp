// The cache handle: routes each key to its shard's actor and waits, with a
// bound, for the reply. The shards themselves are in cache_actor.cpp.

#include <functional>

#include <caf/all.hpp>

#include "cache_store.hpp"
#include "p21/cache.hpp"

namespace p21 {

using namespace cache_detail;

// -- cache handle -------------------------------------------------------------

cache::cache(runtime& rt, std::string name, size_t shards)
  : rt_(&rt)
  , name_(std::move(name))
  , shards_(shards)
  , timeout_(rt.settings().runtime.request_timeout) {
  // nop
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
  for (auto& spec : cache_components(name, cfg, rt.settings().cache.load_timeout)) {
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
  return shards_ == 1 ? 0 : std::hash<std::string>{}(key) % shards_;
}

caf::expected<cache_actor> cache::shard_for(const std::string& key) {
  return rt_->actor_of<cache_actor>(component(shard_index(key)));
}

caf::expected<std::optional<std::string>> cache::get(const std::string& key) {
  auto r = ask<caf::optional<std::string>>(shard_index(key), get_atom::value, key);
  if (!r)
    return r.error();
  if (!*r)
    return std::optional<std::string>{};
  return std::optional<std::string>{std::move(**r)};
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
  auto first = ask<load_reply>(shard, load_atom::value, key);
  if (!first)
    return first.error();
  if (first->hit)
    return std::move(first->value);
  // Our turn to load; others asking for this key now wait for our result.
  caf::expected<std::string> value{std::string{}};
  try {
    value = load();
  } catch (const std::exception& e) {
    value = make_error(errc::command_failed, std::string{"loader threw: "} + e.what());
  }
  if (!value) {
    static_cast<void>(ask<bool>(shard, load_failed_atom::value, key, value.error()));
    return value.error();
  }
  auto stored = ask<bool>(shard, loaded_atom::value, key, *value, ttl);
  if (!stored)
    return stored.error();
  return value;
}

caf::error cache::put(const std::string& key, std::string value, timespan ttl) {
  auto r = ask<bool>(shard_index(key), put_atom::value, key, std::move(value), ttl);
  return r ? caf::error{} : r.error();
}

caf::expected<bool> cache::erase(const std::string& key) {
  return ask<bool>(shard_index(key), erase_atom::value, key);
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
  }
  return sum;
}

} // namespace p21
