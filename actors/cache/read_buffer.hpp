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

/// The calling thread's `read_buffer::this_thread_index` plus one; 0: not
/// taken yet (or given back as the thread ends).
inline thread_local size_t read_buffer_thread_index = 0;

/// Caffeine's read buffer: per stripe a ring of key hashes that readers
/// append to without a lock and the owner drains. A full stripe, or a lost
/// race for a slot, drops the record: reads only inform the policy, and a
/// few lost ones do not change which entries are hot. Hits, misses and
/// puts are counted per thread (`thread_counts`), so that counting costs
/// neither a shared cache line nor an atomic read-modify-write.
///
/// Stripes of their own: a thread index is unique among the threads
/// running (`this_thread_index`), so the first `stripe_count()` indices
/// each have a stripe no other thread writes: a record there is a plain
/// store and a release of the tail (a single-producer ring), and the owner
/// only reads the cells. Before, a record was a compare-and-swap on the
/// tail (a full barrier, which waits for the thread's pending stores) and
/// the owner zeroed each cell it read, so the next record's store found
/// the cell's line on the owner's core; a plain store leaves that wait to
/// the store buffer. (Measured together with the rest of issue 33's second
/// pass, see docs/cache.md.) Threads beyond those share a few stripes, with
/// a compare-and-swap on the tail as before.
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
/// to 1.8x. Each stripe takes 16 KiB (320 KiB a shard on a machine of two
/// or more hardware threads, the shared ones included).
class read_buffer {
public:
  static constexpr size_t slots = 2048;

  /// `stripes`: a power of two; 0 picks the machine's default. That many
  /// thread indices have a stripe of their own; a quarter as many (at
  /// least 2) are shared by the threads beyond.
  explicit read_buffer(size_t stripes = 0);

  /// Stripes of their own (the shared ones come on top).
  size_t stripe_count() const noexcept { return own_; }

  /// The calling thread's index, for `push` and `count`.
  static size_t stripe_of_this_thread() { return this_thread_index(); }

  /// A small number for the calling thread, unique among the threads
  /// running now (a thread that ends gives its number back). Once the
  /// thread has one, a plain thread-local load, inlined: the function-local
  /// `thread_local` object that holds it (for the give-back) cost a call
  /// and a guard check on every read.
  static size_t this_thread_index() {
    auto i = read_buffer_thread_index;
    return i != 0 ? i - 1 : take_thread_index();
  }

  /// What became of a record.
  enum class pushed : uint8_t {
    kept,
    /// Kept, and the stripe just became three quarters full: the owner
    /// should drain.
    drain_point,
    /// Kept, in a stripe past three quarters full.
    drain_soon,
    /// Dropped (the stripe was full, or another thread took the slot).
    dropped,
  };

  /// Appends `hash` for the thread of index `thread` (the caller's own:
  /// no other running thread may pass the same one below `stripe_count()`).
  pushed push(size_t thread, uint64_t hash) {
    if (thread < own_)
      return push_own(stripes_[thread], hash);
    return push_shared(stripes_[own_ + (thread & (shared_ - 1))], hash);
  }

  /// Counts a hit or a miss of the calling thread (`thread`: its index);
  /// returns the thread's hits or misses so far, this one included.
  uint64_t count(size_t thread, bool hit) { return counts_.add(thread, hit ? 0 : 1); }

  void count_put(size_t thread) { counts_.add(thread, 2); }

  /// Owner: calls `f(hash)` for each record, oldest first per stripe.
  template <class F>
  void drain(F f) {
    for (size_t i = 0; i < own_; ++i) {
      auto& s = stripes_[i];
      auto head = s.head.load(std::memory_order_relaxed);
      auto tail = s.tail.load(std::memory_order_acquire);
      for (; head != tail; ++head)
        f(s.cells[head & (slots - 1)].load(std::memory_order_relaxed));
      // Release: the producer that sees it may write the cells read.
      s.head.store(head, std::memory_order_release);
    }
    for (size_t i = own_; i < own_ + shared_; ++i) {
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
  static size_t take_thread_index();

  /// The producers' line (the tail, and what a stripe's own producer last
  /// saw of the head), the owner's line (the head), then the cells.
  struct alignas(64) stripe {
    std::atomic<uint64_t> tail{0};
    uint64_t head_seen = 0;
    alignas(64) std::atomic<uint64_t> head{0};
    alignas(64) std::array<std::atomic<uint64_t>, slots> cells{};
  };

  /// A stripe of the caller's own: no other producer.
  static pushed push_own(stripe& s, uint64_t hash) {
    constexpr uint64_t ask_at = slots - slots / 4;
    auto tail = s.tail.load(std::memory_order_relaxed);
    // The head as last seen: the owner's line is read only when the stripe
    // looks three quarters full, once per drain.
    auto size = tail - s.head_seen;
    if (size + 1 >= ask_at) {
      s.head_seen = s.head.load(std::memory_order_acquire);
      size = tail - s.head_seen;
      if (size >= slots)
        return pushed::dropped;
    }
    s.cells[tail & (slots - 1)].store(hash, std::memory_order_relaxed);
    // Release: the owner that sees the tail sees the cell.
    s.tail.store(tail + 1, std::memory_order_release);
    if (size + 1 < ask_at)
      return pushed::kept;
    return size + 1 == ask_at ? pushed::drain_point : pushed::drain_soon;
  }

  /// A stripe shared by threads beyond the first `own_`.
  static pushed push_shared(stripe& s, uint64_t hash);

  /// Counters of hits, misses and puts, one cache line per thread index:
  /// the first `owned` indices each write only their own line, with a
  /// plain load and store (the owner reads them relaxed); a thread beyond
  /// those shares one line, counted with atomic adds. (A hit counted with
  /// an atomic add on its stripe's line cost 5 ns of a 40 ns hit here.)
  class thread_counts {
  public:
    static constexpr size_t owned = 64;
    /// Returns the count after this one (of the thread's line, or of the
    /// shared line).
    uint64_t add(size_t thread, size_t which) {
      if (thread < owned) {
        auto& c = lines_[thread].n[which];
        auto n = c.load(std::memory_order_relaxed) + 1;
        c.store(n, std::memory_order_relaxed);
        return n;
      }
      return lines_[owned].n[which].fetch_add(1, std::memory_order_relaxed) + 1;
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

  size_t own_;
  size_t shared_;
  /// `own_` stripes of their own, then `shared_` shared ones.
  std::unique_ptr<stripe[]> stripes_;
  thread_counts counts_;
  /// What `counts` had at the last `reset_counts` (the counters themselves
  /// belong to their threads: only they write them).
  totals base_;
};

} // namespace p21::cache_detail
