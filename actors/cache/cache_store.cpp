#include "cache_store.hpp"

#include <algorithm>
#include <cmath>

namespace p21::cache_detail {

namespace {

uint64_t mix(uint64_t x) {
  // splitmix64's finalizer: spreads std::hash's output over all bits.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/// Heap bytes a string owns beyond its object (none while it fits the SSO).
uint64_t heap_bytes(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

// Caffeine's constants for the adaptive window.
constexpr double initial_window = 0.01;
constexpr double protected_share = 0.80;
constexpr double step_percent = 0.0625;
constexpr double step_decay = 0.98;
constexpr double restart_threshold = 0.05;
// Caffeine samples 10x the capacity between adjustments; 2x converges within
// a million requests on a recency-heavy stream (measured with p21 cache-sim)
// and keeps tinylfu's lead on skewed ones.
constexpr uint64_t sample_factor = 2;

} // namespace

// -- frequency_sketch ---------------------------------------------------------

frequency_sketch::frequency_sketch(size_t capacity) {
  ensure_capacity(capacity);
}

void frequency_sketch::ensure_capacity(size_t capacity) {
  size_t width = 16;
  while (width < capacity)
    width <<= 1;
  width_ = width;
  table_.assign(4 * width_, 0);
  sample_size_ = 10 * std::max<size_t>(capacity, 1);
  additions_ = 0;
}

size_t frequency_sketch::index(uint64_t hash, int row) const {
  return static_cast<size_t>(row) * width_ +
         (mix(hash + static_cast<uint64_t>(row + 1) * 0x9e3779b97f4a7c15ull) & (width_ - 1));
}

void frequency_sketch::increment(uint64_t hash) {
  bool added = false;
  for (int row = 0; row < 4; ++row) {
    auto& c = table_[index(hash, row)];
    if (c < 15) {
      ++c;
      added = true;
    }
  }
  if (added && ++additions_ >= sample_size_)
    halve();
}

uint8_t frequency_sketch::frequency(uint64_t hash) const {
  uint8_t f = 15;
  for (int row = 0; row < 4; ++row)
    f = std::min(f, table_[index(hash, row)]);
  return f;
}

void frequency_sketch::halve() {
  for (auto& c : table_)
    c >>= 1;
  additions_ /= 2;
}

// -- cache_store --------------------------------------------------------------

size_t entry_overhead() {
  // Hash node (value + next pointer + cached hash), its bucket slot, and the
  // node of the eviction list.
  return sizeof(std::pair<const std::string, int>) - sizeof(int) + 96 + 3 * sizeof(void*) +
         sizeof(void*) + 3 * sizeof(void*);
}

cache_store::cache_store(store_config cfg)
  : cfg_(std::move(cfg)) {
  stats_.name = cfg_.name;
  static_cast<void>(resize(cfg_.max_entries, cfg_.max_bytes));
}

cache_store::order& cache_store::list_of(region r) {
  switch (r) {
  case window:
    return window_;
  case probation:
    return probation_;
  default:
    return protected_;
  }
}

uint64_t cache_store::hash(const std::string& key) const {
  return std::hash<std::string>{}(key);
}

const std::string* cache_store::get(const std::string& key, time_point now) {
  auto tinylfu = cfg_.policy == eviction::tinylfu;
  if (tinylfu) {
    sketch_.increment(hash(key));
    ++sample_requests_;
  }
  auto i = map_.find(key);
  if (i != map_.end() && i->second.expires <= now) {
    ++stats_.expirations;
    remove(i);
    i = map_.end();
  }
  if (i == map_.end()) {
    ++stats_.misses;
    if (!ghost_set_.empty()) {
      auto g = ghost_set_.find(hash(key));
      if (g != ghost_set_.end()) {
        ++stats_.capacity_misses;
        ghost_set_.erase(g); // counted once; its deque slot ages out
      }
    }
  } else {
    ++stats_.hits;
    if (tinylfu)
      ++sample_hits_;
    touch(i);
  }
  if (tinylfu && sample_requests_ >= sample_factor * cfg_.max_entries)
    adapt_window();
  return i == map_.end() ? nullptr : &i->second.value;
}

bool cache_store::contains(const std::string& key, time_point now) const {
  auto i = map_.find(key);
  return i != map_.end() && i->second.expires > now;
}

void cache_store::touch(map_type::iterator i) {
  auto& e = i->second;
  if (cfg_.policy == eviction::lru || e.where != probation) {
    auto& l = list_of(e.where);
    l.splice(l.begin(), l, e.pos);
    return;
  }
  // A second hit in probation promotes to protected; protected overflow
  // demotes its coldest back to probation.
  protected_.splice(protected_.begin(), probation_, e.pos);
  e.where = protected_main;
  while (protected_.size() > protected_max_) {
    auto& demoted = map_.find(*protected_.back())->second;
    probation_.splice(probation_.begin(), protected_, demoted.pos);
    demoted.where = probation;
  }
}

caf::error cache_store::put(const std::string& key, std::string value, timespan ttl,
                            time_point now) {
  if (ttl.count() == 0)
    ttl = cfg_.ttl;
  auto expires =
      ttl.count() > 0 ? now + std::chrono::duration_cast<clock::duration>(ttl) : time_point::max();
  auto charge = entry_overhead() + key.size() + value.size();
  if (charge > cfg_.max_bytes)
    return make_error(errc::invalid_argument,
                      "an entry of " + std::to_string(charge) + " bytes exceeds the capacity of " +
                          cfg_.name + " (" + std::to_string(cfg_.max_bytes) + " bytes)");
  ++stats_.puts;
  auto i = map_.find(key);
  if (i != map_.end()) {
    auto& e = i->second;
    bytes_ -= e.charge;
    e.value = std::move(value);
    e.charge = entry_overhead() + heap_bytes(i->first) + heap_bytes(e.value);
    e.expires = expires;
    bytes_ += e.charge;
    touch(i);
  } else {
    i = map_.emplace(key, entry{std::move(value), expires, 0, {}, window}).first;
    auto& e = i->second;
    e.charge = entry_overhead() + heap_bytes(i->first) + heap_bytes(e.value);
    window_.push_front(&i->first);
    e.pos = window_.begin();
    bytes_ += e.charge;
  }
  enforce_bounds();
  return caf::none;
}

void cache_store::remove(map_type::iterator i) {
  list_of(i->second.where).erase(i->second.pos);
  bytes_ -= i->second.charge;
  map_.erase(i);
}

void cache_store::evict(map_type::iterator i) {
  ++stats_.evictions;
  auto h = hash(i->first);
  ghosts_.push_back(h);
  ghost_set_.insert(h);
  while (ghosts_.size() > cfg_.max_entries) {
    if (auto g = ghost_set_.find(ghosts_.front()); g != ghost_set_.end())
      ghost_set_.erase(g);
    ghosts_.pop_front();
  }
  remove(i);
}

bool cache_store::erase(const std::string& key) {
  auto i = map_.find(key);
  if (i == map_.end())
    return false;
  remove(i);
  return true;
}

uint64_t cache_store::clear() {
  auto n = map_.size();
  window_.clear();
  probation_.clear();
  protected_.clear();
  map_.clear();
  bytes_ = 0;
  return n;
}

cache_store::map_type::iterator cache_store::coldest() {
  for (auto* l : {&probation_, &window_, &protected_})
    if (!l->empty())
      return map_.find(*l->back());
  return map_.end();
}

std::vector<std::string> cache_store::coldest_first() const {
  std::vector<std::string> out;
  for (auto* l : {&probation_, &window_, &protected_})
    for (auto i = l->rbegin(); i != l->rend(); ++i)
      out.push_back(**i);
  return out;
}

void cache_store::enforce_bounds() {
  if (cfg_.policy == eviction::lru) {
    while (!window_.empty() && (map_.size() > cfg_.max_entries || bytes_ > cfg_.max_bytes))
      evict(map_.find(*window_.back()));
    return;
  }
  evict_from_window();
  while (bytes_ > cfg_.max_bytes && !map_.empty())
    evict(coldest());
}

void cache_store::evict_from_window() {
  size_t candidates = 0;
  while (window_.size() > window_max_) {
    auto& e = map_.find(*window_.back())->second;
    probation_.splice(probation_.begin(), window_, e.pos);
    e.where = probation;
    ++candidates;
  }
  evict_from_main(candidates);
}

void cache_store::evict_from_main(size_t candidates) {
  // Candidates (fresh from the window) sit at probation's front, the oldest
  // of them deepest; the victim is probation's back. The one the sketch has
  // seen more often stays.
  while (map_.size() > cfg_.max_entries) {
    if (probation_.empty()) {
      evict(coldest());
      continue;
    }
    auto victim = map_.find(*probation_.back());
    map_type::iterator candidate;
    if (candidates > 0) {
      auto cpos = std::next(probation_.begin(), static_cast<long>(candidates - 1));
      candidate = map_.find(**cpos);
      --candidates;
    } else if (!window_.empty()) {
      // The window grew and overflowed the total: its coldest entry stays
      // unless main's victim was used more often (ties favour the window,
      // so that growing it has an effect).
      auto tail = map_.find(*window_.back());
      if (sketch_.frequency(hash(victim->first)) > sketch_.frequency(hash(tail->first)))
        evict(tail);
      else
        evict(victim);
      continue;
    } else {
      evict(victim);
      continue;
    }
    if (candidate == victim) {
      evict(victim);
      continue;
    }
    if (sketch_.frequency(hash(candidate->first)) > sketch_.frequency(hash(victim->first)))
      evict(victim);
    else
      evict(candidate);
  }
}

void cache_store::adapt_window() {
  auto hit_rate = static_cast<double>(sample_hits_) / static_cast<double>(sample_requests_);
  auto change = hit_rate - previous_hit_rate_;
  auto amount = change >= 0 ? step_ : -step_;
  auto max = static_cast<double>(cfg_.max_entries);
  step_ = std::abs(change) >= restart_threshold ? step_percent * max * (amount >= 0 ? 1 : -1)
                                                : step_decay * amount;
  previous_hit_rate_ = hit_rate;
  sample_hits_ = 0;
  sample_requests_ = 0;
  auto target = static_cast<double>(window_max_) + amount;
  auto bounded = std::clamp(target, 1.0, std::max(1.0, max - 1));
  // Pinned against a bound, the climber sees no change and would keep
  // pushing outward forever; turn it around instead.
  if (bounded != target)
    step_ = -step_;
  set_window_size(static_cast<uint64_t>(bounded));
}

void cache_store::set_window_size(uint64_t n) {
  window_max_ = std::max<uint64_t>(1, std::min(n, cfg_.max_entries));
  auto main = cfg_.max_entries - std::min(window_max_, cfg_.max_entries);
  protected_max_ = static_cast<uint64_t>(protected_share * static_cast<double>(main));
}

double cache_store::window_fraction() const {
  return static_cast<double>(window_max_) / static_cast<double>(cfg_.max_entries);
}

shrink_result cache_store::shrink(double fraction) {
  shrink_result r;
  if (!(fraction > 0))
    return r;
  auto n = static_cast<size_t>(std::ceil(std::min(fraction, 1.0) * static_cast<double>(size())));
  auto bytes_before = bytes_;
  for (size_t k = 0; k < n && !map_.empty(); ++k) {
    evict(coldest());
    ++r.entries;
  }
  r.bytes = bytes_before - bytes_;
  return r;
}

caf::error cache_store::resize(uint64_t max_entries, uint64_t max_bytes) {
  if (max_entries == 0 || max_bytes == 0)
    return make_error(errc::invalid_argument, "cache capacity must be positive");
  cfg_.max_entries = max_entries;
  cfg_.max_bytes = max_bytes;
  if (cfg_.policy == eviction::lru) {
    window_max_ = max_entries;
  } else {
    if (window_max_ == 0) {
      sketch_.ensure_capacity(max_entries);
      // From the 1 % start, only growing can help: try that first.
      step_ = step_percent * static_cast<double>(max_entries);
      set_window_size(
          static_cast<uint64_t>(std::ceil(initial_window * static_cast<double>(max_entries))));
    } else {
      set_window_size(std::min(window_max_, max_entries));
    }
  }
  enforce_bounds();
  // A smaller protected quota demotes its coldest entries.
  while (protected_.size() > protected_max_ && cfg_.policy == eviction::tinylfu) {
    auto& demoted = map_.find(*protected_.back())->second;
    probation_.splice(probation_.begin(), protected_, demoted.pos);
    demoted.where = probation;
  }
  return caf::none;
}

cache_stats cache_store::stats() const {
  auto s = stats_;
  s.entries = map_.size();
  s.bytes = bytes_;
  s.max_entries = cfg_.max_entries;
  s.max_bytes = cfg_.max_bytes;
  return s;
}

} // namespace p21::cache_detail
