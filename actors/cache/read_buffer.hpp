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
/// few lost ones do not change which entries are hot. Hits, misses and
/// puts are counted per thread (`thread_counts`), so that counting costs
/// neither a shared cache line nor an atomic read-modify-write.
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
  /// its stripe count): its thread index, so that the first threads each
  /// have a stripe of their own.
  static size_t stripe_of_this_thread() { return this_thread_index(); }

  /// A small number for the calling thread, unique among the threads
  /// running now (a thread that ends gives its number back).
  static size_t this_thread_index();

  /// Appends `hash`; returns whether the owner should drain soon (the stripe
  /// is three quarters full or the record was dropped).
  bool push(size_t stripe, uint64_t hash);

  /// Counts a hit or a miss of the calling thread (`thread`: its index).
  void count(size_t thread, bool hit) { counts_.add(thread, hit ? 0 : 1); }

  void count_put(size_t thread) { counts_.add(thread, 2); }

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
    std::array<std::atomic<uint64_t>, slots> cells{};
  };

  /// Counters of hits, misses and puts, one cache line per thread index:
  /// the first `owned` indices each write only their own line, with a
  /// plain load and store (the owner reads them relaxed); a thread beyond
  /// those shares one line, counted with atomic adds. (A hit counted with
  /// an atomic add on its stripe's line cost 5 ns of a 40 ns hit here.)
  class thread_counts {
  public:
    static constexpr size_t owned = 64;
    void add(size_t thread, size_t which) {
      if (thread < owned) {
        auto& c = lines_[thread].n[which];
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      } else {
        lines_[owned].n[which].fetch_add(1, std::memory_order_relaxed);
      }
    }
    uint64_t sum(size_t which) const {
      uint64_t total = 0;
      for (auto& l : lines_)
        total += l.n[which].load(std::memory_order_relaxed);
      return total;
    }

  private:
    struct alignas(64) line {
      std::array<std::atomic<uint64_t>, 3> n{};
    };
    std::array<line, owned + 1> lines_{};
  };

  size_t mask_;
  std::unique_ptr<stripe[]> stripes_;
  thread_counts counts_;
  /// What `counts` had at the last `reset_counts` (the counters themselves
  /// belong to their threads: only they write them).
  totals base_;
};

} // namespace p21::cache_detail
