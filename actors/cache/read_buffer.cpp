#include "read_buffer.hpp"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace p21::cache_detail {

// -- read_buffer --------------------------------------------------------------

read_buffer::read_buffer(size_t stripes) {
  if (stripes == 0) {
    auto wanted = std::clamp<size_t>(8 * std::max(1u, std::thread::hardware_concurrency()), 4, 16);
    stripes = 4;
    while (stripes < wanted)
      stripes *= 2;
  }
  own_ = stripes;
  shared_ = std::max<size_t>(2, stripes / 4);
  stripes_ = std::make_unique<stripe[]>(own_ + shared_);
}

namespace {

/// The thread indices in use; a thread takes the lowest free one.
class thread_indices {
public:
  size_t take() {
    std::lock_guard<std::mutex> guard{mtx_};
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) {
        used_[i] = true;
        return i;
      }
    used_.push_back(true);
    return used_.size() - 1;
  }
  void give_back(size_t i) {
    std::lock_guard<std::mutex> guard{mtx_};
    used_[i] = false;
  }

private:
  std::mutex mtx_;
  std::vector<bool> used_;
};

thread_indices& indices() {
  // Never destroyed: threads may end after static destructors ran.
  static auto* all = new thread_indices;
  return *all;
}

struct thread_index {
  size_t value = indices().take();
  ~thread_index() {
    read_buffer_thread_index = 0;
    indices().give_back(value);
  }
};

} // namespace

size_t read_buffer::take_thread_index() {
  thread_local const thread_index index;
  read_buffer_thread_index = index.value + 1;
  return index.value;
}

read_buffer::pushed read_buffer::push_shared(stripe& s, uint64_t hash) {
  auto tail = s.tail.load(std::memory_order_relaxed);
  auto size = tail - s.head.load(std::memory_order_acquire);
  if (size >= slots)
    return pushed::dropped;
  if (!s.tail.compare_exchange_strong(tail, tail + 1, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
    return pushed::kept; // another reader took the slot: dropped, the stripe has room
  s.cells[tail & (slots - 1)].store(hash == 0 ? 1 : hash, std::memory_order_release);
  // Three quarters full: time for the owner, before records drop.
  constexpr uint64_t ask_at = slots - slots / 4;
  if (size + 1 < ask_at)
    return pushed::kept;
  return size + 1 == ask_at ? pushed::drain_point : pushed::drain_soon;
}

read_buffer::totals read_buffer::counts() const {
  return {counts_.sum(0) - base_.hits, counts_.sum(1) - base_.misses, counts_.sum(2) - base_.puts};
}

void read_buffer::reset_counts() {
  base_ = {counts_.sum(0), counts_.sum(1), counts_.sum(2)};
}

} // namespace p21::cache_detail
