#include "read_buffer.hpp"

#include <algorithm>
#include <thread>

namespace p21::cache_detail {

// -- read_buffer --------------------------------------------------------------

read_buffer::read_buffer(size_t stripes) {
  if (stripes == 0) {
    auto wanted = std::clamp<size_t>(8 * std::max(1u, std::thread::hardware_concurrency()), 4, 16);
    stripes = 4;
    while (stripes < wanted)
      stripes *= 2;
  }
  mask_ = stripes - 1;
  stripes_ = std::make_unique<stripe[]>(stripes);
}

size_t read_buffer::stripe_of_this_thread() {
  thread_local const size_t stripe =
      spread(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return stripe;
}

bool read_buffer::push(size_t stripe, uint64_t hash) {
  auto& s = stripes_[stripe & mask_];
  auto tail = s.tail.load(std::memory_order_relaxed);
  auto size = tail - s.head.load(std::memory_order_acquire);
  if (size >= slots)
    return true; // full: dropped
  if (!s.tail.compare_exchange_strong(tail, tail + 1, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
    return false; // another reader took the slot: dropped
  s.cells[tail & (slots - 1)].store(hash == 0 ? 1 : hash, std::memory_order_release);
  // Three quarters full: time for the owner, before records drop.
  return size + 1 >= slots - slots / 4;
}

read_buffer::totals read_buffer::counts() const {
  totals t;
  for (size_t i = 0; i <= mask_; ++i) {
    auto& s = stripes_[i];
    t.hits += s.hits.load(std::memory_order_relaxed);
    t.misses += s.misses.load(std::memory_order_relaxed);
    t.puts += s.puts.load(std::memory_order_relaxed);
  }
  return t;
}

void read_buffer::reset_counts() {
  for (size_t i = 0; i <= mask_; ++i) {
    auto& s = stripes_[i];
    s.hits.store(0, std::memory_order_relaxed);
    s.misses.store(0, std::memory_order_relaxed);
    s.puts.store(0, std::memory_order_relaxed);
  }
}

} // namespace p21::cache_detail
