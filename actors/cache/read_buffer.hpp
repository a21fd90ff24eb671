#pragma once

// The read buffer between a cache shard's readers and its owner.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "key_hash.hpp"

namespace p21::cache_detail {

/// Caffeine's read buffer: per stripe a ring of key hashes that readers
/// append to without a lock and the owner drains. A full stripe, or a lost
/// race for a slot, drops the record: reads only inform the policy, and a
/// few lost ones do not change which entries are hot. Each stripe also
/// counts its readers' hits and misses, so that counting costs no shared
/// cache line.
///
/// Sizes: a reader asks the owner to drain when its stripe is three
/// quarters full; that request is a message, often a wake-up of a sleeping
/// scheduler thread (a futex call, some microseconds in a VM), paid by the
/// reader that fills the stripe. 2048 slots make it one request per 1536
/// reads of a thread. With 128 a single thread's hits took 200 ns on a
/// quiet 2-vCPU machine; 1024 took 90 to 170; 2048 took 50 to 100 with the
/// rest of today's read path (see the README's cache_direct row). Stripes
/// follow the machine (eight per hardware thread, 4 to 16), as Caffeine
/// sizes its buffers by CPUs: with four per hardware thread, four client
/// threads shared stripes more often and `cache_contended` fell from 2.1x
/// to 1.8x. Each stripe takes 16 KiB (256 KiB a shard on a machine of two
/// or more hardware threads).
class read_buffer {
public:
  static constexpr size_t slots = 2048;

  /// `stripes`: a power of two; 0 picks the machine's default.
  explicit read_buffer(size_t stripes = 0);

  size_t stripe_count() const noexcept { return mask_ + 1; }

  /// The calling thread's stripe (any value: the buffer takes it modulo
  /// its stripe count).
  static size_t stripe_of_this_thread();

  /// Appends `hash`; returns whether the owner should drain soon (the stripe
  /// is three quarters full or the record was dropped).
  bool push(size_t stripe, uint64_t hash);

  void count(size_t stripe, bool hit) {
    auto& s = stripes_[stripe & mask_];
    (hit ? s.hits : s.misses).fetch_add(1, std::memory_order_relaxed);
  }

  void count_put(size_t stripe) {
    stripes_[stripe & mask_].puts.fetch_add(1, std::memory_order_relaxed);
  }

  /// Owner: calls `f(hash)` for each record, oldest first per stripe.
  template <class F>
  void drain(F f) {
    for (size_t i = 0; i <= mask_; ++i) {
      auto& s = stripes_[i];
      auto head = s.head.load(std::memory_order_relaxed);
      auto tail = s.tail.load(std::memory_order_acquire);
      for (; head != tail; ++head) {
        auto& cell = s.cells[head & (slots - 1)];
        auto h = cell.load(std::memory_order_acquire);
        if (h == 0)
          break; // claimed, not yet written: the next drain takes it
        cell.store(0, std::memory_order_relaxed);
        f(h);
      }
      s.head.store(head, std::memory_order_release);
    }
  }

  struct totals {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t puts = 0;
  };

  /// Hits, misses and puts counted so far.
  totals counts() const;

  /// Owner: forgets the counts (a restarted shard starts from zero).
  void reset_counts();

private:
  struct alignas(64) stripe {
    std::atomic<uint64_t> head{0};
    std::atomic<uint64_t> tail{0};
    std::atomic<uint64_t> hits{0};
    std::atomic<uint64_t> misses{0};
    std::atomic<uint64_t> puts{0};
    std::array<std::atomic<uint64_t>, slots> cells{};
  };

  size_t mask_;
  std::unique_ptr<stripe[]> stripes_;
};

} // namespace p21::cache_detail
