#pragma once

// Read-side critical sections and deferred frees for the cache's table,
// from userspace RCU (liburcu, Debian's liburcu-dev).
//
// Flavour: `urcu-bp` ("bulletproof"). Readers are CAF's scheduler threads
// and any thread of an application holding a cache handle; bp registers a
// thread on its first read section and notices its exit by itself, where
// `urcu-memb` needs every reader thread registered by hand and `urcu-qsbr`
// needs every thread to announce quiescent states. Its read side costs the
// same as memb's here (3 ns a lock and unlock; the kernel's membarrier
// spares the reader a fence).
//
// Inlined: liburcu's header declares the read-side functions short enough
// (under 10 lines) to be inlined into code of any license; called through
// the library instead, a lock and unlock cost 18 to 20 ns, which was the
// whole budget of a hit. Only those two come from the static header.

#include <cstddef>
#include <functional>

#include <urcu/urcu-bp.h>
#include <urcu/static/urcu-bp.h>

#if defined(__SANITIZE_THREAD__)
#define P21_RCU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define P21_RCU_TSAN 1
#endif
#endif

#ifdef P21_RCU_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace p21::cache_detail {

#ifdef P21_RCU_TSAN
/// ThreadSanitizer does not see the grace period (liburcu is not built
/// with it): every reader's unlock releases this word and every deferred
/// free acquires it, which tells TSan what the grace period guarantees
/// (readers are done with what is freed). Only in TSan builds.
inline char rcu_tsan_sync;
#endif

/// An RCU read-side critical section: what a reader finds in the table
/// stays allocated until the section ends. Sections nest and never block.
class read_guard {
public:
  read_guard() noexcept { _urcu_bp_read_lock(); }
  ~read_guard() {
#ifdef P21_RCU_TSAN
    __tsan_release(&rcu_tsan_sync);
#endif
    _urcu_bp_read_unlock();
  }
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;
};

/// Something unlinked from the table that readers may still hold: freed
/// after a grace period.
struct retired {
  void* ptr;
  void (*free)(void*);
};

/// Retired things handed to RCU together (one call_rcu each, so that no
/// node or value carries an rcu_head of its own). A fixed array from a
/// pool of spent batches, not a growing vector: a vector grew to 4 KiB per
/// hand-over, and each such large allocation made glibc consolidate its
/// fast bins (the values and nodes freed on liburcu's thread), 6 % of
/// `cache_contended_1`'s samples.
struct retired_batch {
  static constexpr size_t capacity = 256;

  /// A batch from the pool (or a new one), empty.
  static retired_batch* make();

  bool full() const noexcept { return count == capacity; }
  void add(void* p, void (*f)(void*)) noexcept { items[count++] = {p, f}; }
  /// Frees what `chain` holds at once (no reader may hold any of it) and
  /// returns its batches to the pool.
  static void free_now(retired_batch* chain) noexcept;

  rcu_head head{};
  /// The batch filled before this one (a segment's chain of full batches).
  retired_batch* next = nullptr;
  size_t count = 0;
  retired items[capacity];
};

/// Frees the items of `chain`'s batches once every read section running
/// now has ended, then returns the batches to the pool; null does nothing.
/// Never waits: liburcu's call_rcu thread frees them.
void free_after_grace_period(retired_batch* chain);

/// Waits until every batch handed to `free_after_grace_period` so far is
/// freed (tests, and stores that go away while readers cannot exist).
void wait_for_deferred_frees();

/// Calls `fn` on liburcu's call_rcu thread once every batch handed to
/// `free_after_grace_period` so far is freed (its callbacks run in the
/// order they were queued). Never waits. A shrink's heap trim and reply go
/// here: a trim right after the evictions ran before their values were
/// freed and gave nothing back.
void after_deferred_frees(std::function<void()> fn);

} // namespace p21::cache_detail
