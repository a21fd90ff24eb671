#include "tagged_cache.hpp"

namespace p21::cache_detail {

tagged_cache::tagged_cache(store_config cfg)
  : store_(std::move(cfg)) {
  // nop
}

std::shared_ptr<const void> tagged_cache::find(const std::string& key, time_point now) {
  if (!store_.get(key, now))
    return nullptr;
  auto i = values_.find(key);
  return i == values_.end() ? nullptr : i->second;
}

bool tagged_cache::put(const std::string& key, std::shared_ptr<const void> value,
                       const std::vector<std::string>& tags, uint64_t generation, time_point now) {
  if (cleared_at_ > generation)
    return false;
  for (auto& t : tags)
    if (invalidated_at(t) > generation)
      return false;
  // The store keeps order, TTL and the bound; the value itself lives here.
  if (store_.put(key, std::string{}, timespan{0}, now))
    return false;
  values_[key] = std::move(value);
  for (auto& t : tags)
    keys_by_tag_[t].insert(key);
  // Evictions by the store leave values here until a compaction: bound them
  // to twice the capacity (a compaction costs one pass per capacity's puts).
  if (values_.size() > 2 * store_.config().max_entries + 16)
    compact(now);
  return true;
}

size_t tagged_cache::invalidate(const std::string& tag) {
  invalidated_at_[tag] = ++generation_;
  auto i = keys_by_tag_.find(tag);
  if (i == keys_by_tag_.end())
    return 0;
  size_t dropped = 0;
  for (auto& k : i->second) {
    store_.erase(k);
    dropped += values_.erase(k);
  }
  keys_by_tag_.erase(i);
  return dropped;
}

void tagged_cache::clear() {
  cleared_at_ = ++generation_;
  store_.clear();
  values_.clear();
  keys_by_tag_.clear();
}

uint64_t tagged_cache::resize(uint64_t entries) {
  static_cast<void>(store_.resize(std::max<uint64_t>(1, entries), store_.config().max_bytes));
  return store_.config().max_entries;
}

uint64_t tagged_cache::invalidated_at(const std::string& tag) const {
  auto i = invalidated_at_.find(tag);
  return i == invalidated_at_.end() ? 0 : i->second;
}

void tagged_cache::compact(time_point now) {
  for (auto i = values_.begin(); i != values_.end();)
    i = store_.contains(i->first, now) ? std::next(i) : values_.erase(i);
  for (auto i = keys_by_tag_.begin(); i != keys_by_tag_.end();) {
    for (auto k = i->second.begin(); k != i->second.end();)
      k = values_.count(*k) ? std::next(k) : i->second.erase(k);
    i = i->second.empty() ? keys_by_tag_.erase(i) : std::next(i);
  }
}

} // namespace p21::cache_detail
