// The owner lock of a cache store, and the writers that drain under it.
//
// The policy state (eviction order, sketch, window and its tuner, byte
// accounting, ghosts, counters) belongs to whoever holds the owner lock:
// the shard actor for its messages and ticks, or a writer that took the
// write queue past a quarter of its limit while the actor ticks. Before,
// that writer sent the actor a drain message, and CAF woke a sleeping
// scheduler thread for it (a futex call, about 4 us here): 35 % of the
// context switches of `p21 bench --only cache_contended`. Caffeine's
// writers run its maintenance under `evictionLock.tryLock()` instead
// (BoundedLocalCache); so do these: a writer tries the lock, never waits on
// it below the queue's limit, and if it gets it drains in its own thread.
//
// A drain is safe on any thread: it changes the table under segment locks,
// hands what it unlinks to liburcu's `call_rcu` (callable from any thread,
// the bulletproof flavour registers none), counts in plain fields the lock
// guards, and sends no message (the actor's ticks are its own, after the
// drain returns).
//
// Why the shard actor waits on the lock for its messages (get, put, stats,
// resize, shrink, clear ...) but only tries it for its ticks: a writer
// holds it for one drain, whose work is bounded by the write queue's limit
// and the read stripes (tens to hundreds of microseconds), so a message
// handler waits at most that long on its scheduler thread, and those
// messages are rare; the ticks come every millisecond exactly while
// writers drain, and a tick that finds the lock held has nothing to do (the
// holder drains).

#include "cache_store.hpp"

namespace p21::cache_detail {

size_t cache_store::drain() {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return drain_owned();
}

std::optional<size_t> cache_store::try_drain() {
  std::unique_lock<std::mutex> owner{owner_mtx_, std::try_to_lock};
  if (!owner.owns_lock() || !owner_running_)
    return std::nullopt;
  return drain_owned();
}

cache_store::next_step cache_store::settle(const queued& q) {
  if (q.full) {
    // Writes are never dropped and the queue stays bounded: past its limit
    // the writer waits, for the lock now rather than for a message's reply.
    std::lock_guard<std::mutex> owner{owner_mtx_};
    if (!owner_running_)
      return next_step::wait_for_owner;
    drain_owned();
    return next_step::drained;
  }
  if (!q.drain)
    return next_step::nothing;
  if (!ticking())
    return next_step::ask_owner;
  std::unique_lock<std::mutex> owner{owner_mtx_, std::try_to_lock};
  if (!owner.owns_lock()) {
    // Someone holds the policy: a writer or the actor draining (this write
    // is in its queue or the next one's), or the actor on a message. The
    // next writer past the mark tries again, the next tick drains anyway.
    drain_request_lost();
    return next_step::nothing;
  }
  if (!owner_running_)
    return next_step::ask_owner; // the request starts it
  drain_owned();
  return next_step::drained;
}

void cache_store::set_owner_running(bool running) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  owner_running_ = running;
}

void cache_store::stop_owning() {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  owner_running_ = false;
  clear_owned();
}

size_t cache_store::size() const {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return linked_;
}

uint64_t cache_store::bytes() const {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return bytes_;
}

void cache_store::record_load(bool success, timespan duration) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  ++(success ? stats_.load_successes : stats_.load_failures);
  stats_.load_time += duration;
}

} // namespace p21::cache_detail
