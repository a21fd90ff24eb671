#pragma once

// The lock of one segment of a cache shard's table.

#include <atomic>
#include <cstdint>
#include <mutex>        // std::unique_lock
#include <shared_mutex> // std::shared_lock
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace p21::cache_detail {

/// A reader-writer spin lock in one word, for critical sections of a few
/// hundred nanoseconds: a write links one node. (Hits took it shared until
/// the table's readers went lock-free on RCU, table.hpp; now only writers
/// take it, exclusively.) A shared lock is one atomic add and its release one atomic
/// subtract, inlined; `std::shared_mutex` (glibc's pthread_rwlock) is a call
/// and a compare-and-swap loop each way, and on the cache's read path those
/// two calls were a quarter of a hit's cost. Writers are rare (puts, the
/// owner's drains) and take precedence: once one waits, new readers back
/// off until it is done, so a steady stream of hits cannot starve a put.
/// Waiting spins briefly, then yields the CPU; the longest hold is a
/// segment's rehash (some microseconds per thousand entries).
///
/// Meets SharedMutex's interface, so `std::shared_lock` and
/// `std::unique_lock` work with it.
class segment_lock {
public:
  void lock_shared() noexcept {
    for (;;) {
      if ((state_.fetch_add(reader, std::memory_order_acquire) & writer) == 0)
        return;
      // A writer holds or wants the lock: step back and let it in.
      state_.fetch_sub(reader, std::memory_order_relaxed);
      for (unsigned spins = 0; (state_.load(std::memory_order_relaxed) & writer) != 0; ++spins)
        pause(spins);
    }
  }

  void unlock_shared() noexcept { state_.fetch_sub(reader, std::memory_order_release); }

  void lock() noexcept {
    // Claim the writer bit, then wait for the readers inside to leave.
    for (unsigned spins = 0;; ++spins) {
      auto s = state_.load(std::memory_order_relaxed);
      if ((s & writer) == 0 &&
          state_.compare_exchange_weak(s, s | writer, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        break;
      pause(spins);
    }
    for (unsigned spins = 0; state_.load(std::memory_order_acquire) != writer; ++spins)
      pause(spins);
  }

  void unlock() noexcept { state_.fetch_sub(writer, std::memory_order_release); }

  /// One step of a spin wait: a pause, then yields once it lasts.
  static void pause(unsigned spins) noexcept {
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }

private:
  static constexpr uint32_t writer = 1;
  static constexpr uint32_t reader = 2;

  std::atomic<uint32_t> state_{0};
};

} // namespace p21::cache_detail
