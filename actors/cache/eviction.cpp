// The owner's eviction: which entry leaves (exact LRU, or W-TinyLFU's
// window, probation and protected regions with admission by frequency),
// the window's sizing, shrink and resize.

#include "cache_store.hpp"

#include <algorithm>
#include <cmath>

namespace p21::cache_detail {

namespace {

// Caffeine's start: TinyLFU with a 1 % window.
constexpr double initial_window = 0.01;

} // namespace

cache_store::node* cache_store::coldest() const {
  for (auto* l : {&probation_, &window_, &protected_})
    if (auto* n = tail_of(*l))
      return n;
  return nullptr;
}

std::vector<std::string> cache_store::coldest_first() const {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  std::vector<std::string> out;
  for (auto* l : {&probation_, &window_, &protected_})
    for (auto* n = tail_of(*l); n != nullptr; n = prev_of(n))
      out.emplace_back(n->key());
  return out;
}

void cache_store::enforce_bounds() {
  if (cfg_.policy == eviction::lru) {
    while (window_.tail != no_slot && (linked_ > cfg_.max_entries || bytes_ > cfg_.max_bytes))
      evict(tail_of(window_));
    return;
  }
  evict_from_window();
  while (bytes_ > cfg_.max_bytes && linked_ > 0)
    evict(coldest());
}

void cache_store::evict_from_window() {
  size_t candidates = 0;
  while (window_.size > window_max_) {
    auto* e = tail_of(window_);
    unlink(window_, e);
    push_front(probation_, e);
    where_of(e) = probation;
    ++candidates;
  }
  evict_from_main(candidates);
}

void cache_store::evict_from_main(size_t candidates) {
  // Candidates (fresh from the window) sit at probation's front, the oldest
  // of them deepest; the victim is probation's back. The one the sketch has
  // seen more often stays.
  while (linked_ > cfg_.max_entries) {
    if (probation_.tail == no_slot) {
      evict(coldest());
      continue;
    }
    auto* victim = tail_of(probation_);
    node* candidate = nullptr;
    if (candidates > 0) {
      candidate = head_of(probation_);
      for (size_t k = 1; k < candidates; ++k)
        candidate = next_of(candidate);
      --candidates;
    } else if (window_.tail != no_slot) {
      // The window grew and overflowed the total: its coldest entry stays
      // unless main's victim was used more often (ties favour the window,
      // so that growing it has an effect).
      auto* tail = tail_of(window_);
      if (sketch_.frequency(victim->hash) > sketch_.frequency(tail->hash))
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
    if (admit(candidate->hash, victim->hash))
      evict(victim);
    else
      evict(candidate);
  }
}

bool cache_store::admit(uint64_t candidate, uint64_t victim) {
  return tinylfu_admits(sketch_, candidate, victim, admission_rng_);
}

void cache_store::adopt_window(double share) {
  auto max = static_cast<double>(cfg_.max_entries);
  // At most all but one entry: a share of 1 is LRU, which the main region
  // of one entry barely changes.
  set_window_size(
      static_cast<uint64_t>(std::clamp(std::ceil(share * max), 1.0, std::max(1.0, max - 1))));
}

void cache_store::set_window_size(uint64_t n) {
  window_max_ = std::max<uint64_t>(1, std::min(n, cfg_.max_entries));
  auto main = cfg_.max_entries - std::min(window_max_, cfg_.max_entries);
  protected_max_ = static_cast<uint64_t>(tinylfu_protected_share * static_cast<double>(main));
  // A smaller protected quota demotes its coldest entries to probation,
  // where they meet the window's candidates (left in protected, entries
  // no longer used stayed there for good while the window's own were
  // evicted).
  demote_protected_overflow();
}

double cache_store::window_fraction() const {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return window_share();
}

double cache_store::window_share() const {
  return static_cast<double>(window_max_) / static_cast<double>(cfg_.max_entries);
}

shrink_result cache_store::shrink(double fraction) {
  shrink_result r;
  if (!(fraction > 0))
    return r;
  std::lock_guard<std::mutex> owner{owner_mtx_};
  auto n = static_cast<size_t>(std::ceil(std::min(fraction, 1.0) * static_cast<double>(linked_)));
  auto bytes_before = bytes_;
  for (size_t k = 0; k < n && linked_ > 0; ++k) {
    evict(coldest());
    ++r.entries;
  }
  r.bytes = bytes_before - bytes_;
  // Everything evicted goes to RCU now, not when a batch fills: a shrink
  // is for giving memory back.
  if (r.entries > 0)
    table_.flush_retired();
  return r;
}

caf::error cache_store::resize(uint64_t max_entries, uint64_t max_bytes) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return resize_owned(max_entries, max_bytes);
}

caf::error cache_store::resize_owned(uint64_t max_entries, uint64_t max_bytes) {
  if (max_entries == 0 || max_bytes == 0)
    return make_error(errc::invalid_argument, "cache capacity must be positive");
  auto share = window_max_ == 0 ? 0.0 : window_share();
  auto resized = max_entries != cfg_.max_entries;
  cfg_.max_entries = max_entries;
  cfg_.max_bytes = max_bytes;
  max_bytes_.store(max_bytes, std::memory_order_relaxed);
  write_limit_.store(std::clamp<uint64_t>(max_entries / 64, 16, 4096), std::memory_order_relaxed);
  write_byte_limit_.store(std::max<uint64_t>(max_bytes / 64, 1), std::memory_order_relaxed);
  table_.expect_entries(max_entries);
  if (cfg_.policy == eviction::lru) {
    window_max_ = max_entries;
  } else {
    if (window_max_ == 0) {
      sketch_.ensure_capacity(max_entries);
      tuner_.reset(max_entries);
      set_window_size(
          static_cast<uint64_t>(std::ceil(initial_window * static_cast<double>(max_entries))));
    } else if (resized) {
      // The shadows start over at the new size; the window keeps its share.
      tuner_.reset(max_entries);
      adopt_window(share);
    }
  }
  enforce_bounds();
  // A smaller protected quota demotes its coldest entries.
  if (cfg_.policy == eviction::tinylfu)
    demote_protected_overflow();
  return caf::none;
}

void cache_store::set_ttl(timespan ttl) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  cfg_.ttl = ttl;
  ttl_ns_.store(ttl.count(), std::memory_order_relaxed);
}

} // namespace p21::cache_detail
