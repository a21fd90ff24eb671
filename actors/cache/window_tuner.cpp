#include "window_tuner.hpp"

#include <algorithm>
#include <cmath>

#include "key_hash.hpp"

namespace p21::cache_detail {

namespace {

/// The largest shadow: caches up to this size are simulated on every key,
/// larger ones on a sample of keys scaled down to it.
constexpr size_t max_shadow = 1'000;

/// The scores remember about two periods of 10x the shadows' size (half
/// of the weight older than one period); the answer is revised eight times
/// per period, so that the first one comes soon after a cache fills.
constexpr size_t decisions_per_period = 8;
const double decay = std::pow(0.5, 1.0 / decisions_per_period);

} // namespace

// -- shadow_tinylfu -----------------------------------------------------------

shadow_tinylfu::shadow_tinylfu(size_t capacity, double window_share)
  : capacity_(std::max<size_t>(1, capacity)) {
  window_max_ = std::clamp<size_t>(
      static_cast<size_t>(std::ceil(window_share * static_cast<double>(capacity_))), 1, capacity_);
  protected_max_ =
      static_cast<size_t>(tinylfu_protected_share * static_cast<double>(capacity_ - window_max_));
  nodes_.resize(capacity_ + 1);
  free_.reserve(capacity_ + 1);
  for (size_t i = nodes_.size(); i-- > 0;)
    free_.push_back(static_cast<uint32_t>(i));
  size_t n = 16;
  while (n < 2 * (capacity_ + 1))
    n <<= 1;
  slots_.resize(n);
  mask_ = n - 1;
}

size_t shadow_tinylfu::probe(uint64_t hash, size_t home) const {
  for (auto i = home;; i = (i + 1) & mask_) {
    auto& s = slots_[i];
    if (s.node == none || s.hash == hash)
      return i;
  }
}

void shadow_tinylfu::erase_at(size_t i) {
  // Backward shift: move later entries of the probe run into the hole
  // unless their home slot lies cyclically after the hole.
  for (auto j = (i + 1) & mask_; slots_[j].node != none; j = (j + 1) & mask_) {
    if (((j - slots_[j].home) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      nodes_[slots_[i].node].slot = static_cast<uint32_t>(i);
      i = j;
    }
  }
  slots_[i] = {};
  --count_;
}

void shadow_tinylfu::push_front(list& l, uint32_t i) {
  auto& n = nodes_[i];
  n.prev = none;
  n.next = l.head;
  if (l.head != none)
    nodes_[l.head].prev = i;
  else
    l.tail = i;
  l.head = i;
  ++l.size;
}

void shadow_tinylfu::unlink(list& l, uint32_t i) {
  auto& n = nodes_[i];
  (n.prev != none ? nodes_[n.prev].next : l.head) = n.next;
  (n.next != none ? nodes_[n.next].prev : l.tail) = n.prev;
  n.prev = n.next = none;
  --l.size;
}

void shadow_tinylfu::evict(uint32_t i) {
  unlink(list_of(nodes_[i].where), i);
  erase_at(nodes_[i].slot);
  free_.push_back(i);
}

bool shadow_tinylfu::access(uint64_t hash, const frequency_sketch& sketch) {
  auto home = spread(hash) & mask_;
  auto pos = probe(hash, home);
  if (slots_[pos].node != none) {
    auto i = slots_[pos].node;
    auto& n = nodes_[i];
    if (n.where != probation) {
      auto& l = list_of(n.where);
      unlink(l, i);
      push_front(l, i);
      return true;
    }
    // A second hit in probation promotes; protected's overflow goes back.
    unlink(probation_, i);
    push_front(protected_, i);
    n.where = protected_main;
    while (protected_.size > protected_max_) {
      auto d = protected_.tail;
      unlink(protected_, d);
      push_front(probation_, d);
      nodes_[d].where = probation;
    }
    return true;
  }
  auto i = free_.back();
  free_.pop_back();
  nodes_[i].hash = hash;
  nodes_[i].where = window;
  nodes_[i].slot = static_cast<uint32_t>(pos);
  push_front(window_, i);
  slots_[pos] = {hash, i, static_cast<uint32_t>(home)};
  ++count_;
  if (window_.size <= window_max_)
    return false;
  // The window's coldest becomes a candidate for the main region.
  auto c = window_.tail;
  unlink(window_, c);
  push_front(probation_, c);
  nodes_[c].where = probation;
  if (count_ <= capacity_)
    return false;
  auto v = probation_.tail;
  if (v == c) {
    evict(c);
    return false;
  }
  evict(tinylfu_admits(sketch, nodes_[c].hash, nodes_[v].hash, rng_) ? v : c);
  return false;
}

// -- window_tuner -------------------------------------------------------------

window_tuner::window_tuner(size_t capacity) {
  reset(capacity);
}

void window_tuner::reset(size_t capacity) {
  capacity = std::max<size_t>(1, capacity);
  // Keys whose spread hash falls below the threshold (of 2^32) are sampled:
  // a fixed subset, so each sampled key's whole history is seen.
  auto rate = std::min(1.0, static_cast<double>(max_shadow) / static_cast<double>(capacity));
  sample_threshold_ = std::max<uint64_t>(1, static_cast<uint64_t>(rate * 4294967296.0));
  auto mini = std::max<size_t>(
      1, static_cast<size_t>(std::llround(static_cast<double>(capacity) *
                                          static_cast<double>(sample_threshold_) / 4294967296.0)));
  shadows_.clear();
  shadows_.reserve(shares.size());
  for (auto s : shares)
    shadows_.emplace_back(mini, s);
  sketch_.ensure_capacity(mini);
  scores_.fill(0);
  hits_.fill(0);
  period_ = std::max<size_t>(10 * mini, 5'000) / decisions_per_period;
  seen_ = 0;
  sampled_ = 0;
  best_ = 0;
}

bool window_tuner::record(uint64_t hash) {
  if (sample_threshold_ < (1ull << 32) && (spread(hash ^ 0x5bd1e995u) >> 32) >= sample_threshold_)
    return false;
  ++sampled_;
  sketch_.increment(hash);
  for (size_t k = 0; k < shadows_.size(); ++k)
    hits_[k] += shadows_[k].access(hash, sketch_) ? 1 : 0;
  if (++seen_ < period_)
    return false;
  seen_ = 0;
  for (size_t k = 0; k < shadows_.size(); ++k) {
    scores_[k] = decay * scores_[k] + static_cast<double>(hits_[k]);
    hits_[k] = 0;
  }
  best_ = static_cast<size_t>(std::max_element(scores_.begin(), scores_.end()) - scores_.begin());
  return true;
}

} // namespace p21::cache_detail
