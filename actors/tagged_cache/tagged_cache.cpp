#include "tagged_cache.hpp"

#include <algorithm>

// The cache's table, from p21_cache: a listed exception of the cross-include
// check until issue 33's table lands in a core library of its own.
#include "../cache/cache_store.hpp"

namespace p21::cache_detail {

namespace {

store_config store_config_of(const tagged_cache_config& cfg) {
  store_config out;
  out.name = cfg.name;
  out.max_entries = cfg.max_entries;
  // The store holds only the keys' order: what the values cost is bounded
  // here (`max_value_bytes`).
  out.max_bytes = 1ull << 40;
  out.ttl = cfg.ttl;
  return out;
}

} // namespace

tagged_cache::tagged_cache(const tagged_cache_config& cfg, uint64_t max_value_bytes)
  : store_(std::make_unique<cache_store>(store_config_of(cfg)))
  , max_value_bytes_(max_value_bytes) {
  // nop
}

tagged_cache::~tagged_cache() = default;

tagged_cache::tagged_cache(tagged_cache&&) noexcept = default;

tagged_cache& tagged_cache::operator=(tagged_cache&&) noexcept = default;

uint64_t tagged_cache::capacity() const noexcept {
  return store_->config().max_entries;
}

std::vector<uint64_t> tagged_cache::ghost_hit_depths() const {
  return store_->stats().ghost_hit_depths;
}

size_t tagged_cache::size() const noexcept {
  return store_->size();
}

std::shared_ptr<const void> tagged_cache::find(const std::string& key, time_point now) {
  if (!store_->get(key, now))
    return nullptr;
  auto i = values_.find(key);
  return i == values_.end() ? nullptr : i->second.value;
}

bool tagged_cache::put(const std::string& key, std::shared_ptr<const void> value,
                       const std::vector<std::string>& tags, uint64_t generation, time_point now,
                       uint64_t bytes) {
  if (cleared_at_ > generation)
    return false;
  for (auto& t : tags)
    if (invalidated_at(t) > generation)
      return false;
  if (max_value_bytes_ > 0 && bytes > max_value_bytes_)
    return false;
  // The store keeps order, TTL and the bound; the value itself lives here.
  if (store_->put(key, std::string{}, timespan{0}, now))
    return false;
  drop(key); // a replaced value's tags and bytes
  values_[key] = entry{std::move(value), bytes, tags};
  value_bytes_ += bytes;
  for (auto& t : tags)
    keys_by_tag_[t].insert(key);
  // Evictions by the store leave values here until a compaction: bound them
  // to twice the capacity (a compaction costs one pass per capacity's puts).
  if (values_.size() > 2 * store_->config().max_entries + 16)
    compact(now);
  if (max_value_bytes_ > 0 && value_bytes_ > max_value_bytes_)
    evict_bytes(max_value_bytes_ - max_value_bytes_ / 8, now);
  return true;
}

void tagged_cache::drop(const std::string& key) {
  auto i = values_.find(key);
  if (i == values_.end())
    return;
  value_bytes_ -= i->second.bytes;
  for (auto& t : i->second.tags)
    if (auto k = keys_by_tag_.find(t); k != keys_by_tag_.end()) {
      k->second.erase(key);
      if (k->second.empty())
        keys_by_tag_.erase(k);
    }
  values_.erase(i);
}

void tagged_cache::evict_bytes(uint64_t target, time_point now) {
  // Values the store already evicted or expired go first: they cost memory
  // and serve nothing.
  compact(now);
  if (value_bytes_ <= target)
    return;
  for (auto& key : store_->coldest_first()) {
    if (value_bytes_ <= target)
      break;
    store_->erase(key);
    drop(key);
  }
}

size_t tagged_cache::invalidate(const std::string& tag) {
  invalidated_at_[tag] = ++generation_;
  auto i = keys_by_tag_.find(tag);
  if (i == keys_by_tag_.end())
    return 0;
  size_t dropped = 0;
  auto keys = std::move(i->second);
  keys_by_tag_.erase(i);
  for (auto& k : keys) {
    store_->erase(k);
    dropped += values_.count(k);
    drop(k);
  }
  return dropped;
}

void tagged_cache::clear() {
  cleared_at_ = ++generation_;
  store_->clear();
  values_.clear();
  value_bytes_ = 0;
  keys_by_tag_.clear();
}

uint64_t tagged_cache::resize(uint64_t entries) {
  static_cast<void>(store_->resize(std::max<uint64_t>(1, entries), store_->config().max_bytes));
  return store_->config().max_entries;
}

uint64_t tagged_cache::invalidated_at(const std::string& tag) const {
  auto i = invalidated_at_.find(tag);
  return i == invalidated_at_.end() ? 0 : i->second;
}

void tagged_cache::compact(time_point now) {
  for (auto i = values_.begin(); i != values_.end();) {
    if (store_->contains(i->first, now)) {
      ++i;
    } else {
      value_bytes_ -= i->second.bytes;
      i = values_.erase(i);
    }
  }
  for (auto i = keys_by_tag_.begin(); i != keys_by_tag_.end();) {
    for (auto k = i->second.begin(); k != i->second.end();)
      k = values_.count(*k) ? std::next(k) : i->second.erase(k);
    i = i->second.empty() ? keys_by_tag_.erase(i) : std::next(i);
  }
}

} // namespace p21::cache_detail
