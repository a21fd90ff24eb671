#pragma once

// The lock of one segment of a cache shard's table, and of its write queue.

#include <atomic>
#include <cstdint>
#include <mutex> // std::lock_guard, std::unique_lock
#include <thread>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace p21::cache_detail {

/// An exclusive lock in one word for critical sections of tens to hundreds
/// of nanoseconds (a write links one node; the write queue takes a hash):
/// it spins briefly, then sleeps on a futex until the holder wakes it.
/// Taking it free is one compare-and-swap and releasing it one exchange,
/// inlined; only a waiter past its spin, and the release that finds one,
/// make a system call.
///
/// Why sleep rather than yield: on the 2-vCPU machine the cache is measured
/// on, two writers of `cache_contended_2` met on a lock 1 time in 50 and
/// waited past the spin about 20 times a run of 200 000 operations, each
/// time because the holder had been preempted (by liburcu's thread freeing
/// a batch, or a scheduler thread's tick) for up to milliseconds. The
/// waiter then called `sched_yield` some 800 times a wait (16 000 to 19 000
/// a run, counted), keeping its CPU busy, so the preempted holder could not
/// run there. A waiter asleep leaves the CPU to the holder. (Readers took
/// the lock shared until the table's reads went lock-free on RCU; nothing
/// takes it shared now, and the shared mode is gone.)
///
/// Meets Lockable's interface, so `std::lock_guard` and `std::unique_lock`
/// work with it.
class segment_lock {
public:
  void lock() noexcept {
    uint32_t s = unlocked;
    if (!state_.compare_exchange_strong(s, locked, std::memory_order_acquire,
                                        std::memory_order_relaxed))
      lock_contended();
  }

  bool try_lock() noexcept {
    uint32_t s = unlocked;
    return state_.compare_exchange_strong(s, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(unlocked, std::memory_order_release) == sleepers)
      wake_one();
  }

  /// One step of a short spin wait without the lock (a lookup waiting out
  /// a segment's rehash, table.hpp): a pause, then yields once it lasts.
  static void pause(unsigned spins) noexcept {
    if (spins < spin_limit)
      cpu_relax();
    else
      std::this_thread::yield();
  }

  /// Pauses a spin takes before it sleeps (or yields): about 850 ns here
  /// (13 ns a pause), a few times the longest ordinary hold.
  static constexpr unsigned spin_limit = 64;

private:
  static constexpr uint32_t unlocked = 0;
  static constexpr uint32_t locked = 1;
  /// Locked, and someone may sleep on it: the release wakes one.
  static constexpr uint32_t sleepers = 2;

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  [[gnu::noinline]] void lock_contended() noexcept {
    for (unsigned spins = 0; spins < spin_limit; ++spins) {
      cpu_relax();
      auto s = state_.load(std::memory_order_relaxed);
      if (s == unlocked && state_.compare_exchange_weak(s, locked, std::memory_order_acquire,
                                                        std::memory_order_relaxed))
        return;
    }
    // Drepper's "Futexes Are Tricky", mutex 3: whoever takes the lock from
    // here marks it as having sleepers (it may, until the word is seen
    // free), so no release misses a sleeper; a spurious wake costs one
    // extra round.
    while (state_.exchange(sleepers, std::memory_order_acquire) != unlocked)
      futex(FUTEX_WAIT_PRIVATE, sleepers);
  }

  [[gnu::noinline]] void wake_one() noexcept { futex(FUTEX_WAKE_PRIVATE, 1); }

  /// FUTEX_WAIT returns at once when the word is no longer `value` (and on
  /// a signal); the callers look again either way.
  void futex(int op, uint32_t value) noexcept {
    static_assert(sizeof(state_) == sizeof(uint32_t), "a futex is a 32-bit word");
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), op, value, nullptr, nullptr, 0);
  }

  std::atomic<uint32_t> state_{unlocked};
};

} // namespace p21::cache_detail
