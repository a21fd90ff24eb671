#pragma once

// What a cache shard shares with the handles of its process: the store
// (table and buffers) and how to reach the shard actor that owns its policy.
// Made with the shard's component spec, it outlives the actor's restarts.

#include <atomic>
#include <mutex>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/send.hpp>

#include "cache_store.hpp"

namespace p21::redis_detail {
class redis_tier;
} // namespace p21::redis_detail

namespace p21::cache_detail {

using redis_detail::redis_tier;

/// Handle to owner: drain the buffers now (answered with `true` once done,
/// so a writer that found the write queue full can wait for it).
using drain_atom = caf::atom_constant<caf::atom("cdrain")>;

/// Redis tier to owner: drop every entry (a lost invalidation connection),
/// then record the flush's sequence number in `flushed`.
using flush_near_atom = caf::atom_constant<caf::atom("cflush")>;

struct shard_shared {
  explicit shard_shared(store_config cfg)
    : store(std::move(cfg)) {
    // Writers drain in place only once an owner runs (`set_owner`).
    store.set_owner_running(false);
  }

  cache_store store;

  /// For a cache with `backend = "redis"`: the node's Redis tier and the
  /// cache's name (its keys' namespace in Redis); null otherwise.
  std::shared_ptr<redis_tier> tier;
  std::string cache_name;
  timespan load_timeout{std::chrono::seconds{60}};

  /// The latest flush the owner (or `flush_now`) completed.
  std::atomic<uint64_t> flushed{0};
  /// `get_or_load` loaders run against Redis (the owner adds them to its
  /// stats).
  std::atomic<uint64_t> redis_loads{0}, redis_load_failures{0};

  /// Asks the owner to flush (sequence `seq`), or flushes at once when none
  /// runs.
  void request_flush(uint64_t seq) {
    std::lock_guard<std::mutex> guard{mtx};
    if (owner_) {
      caf::anon_send(owner_, flush_near_atom::value, seq);
      return;
    }
    store.clear();
    mark_flushed(seq);
  }

  void mark_flushed(uint64_t seq) {
    auto cur = flushed.load();
    while (cur < seq && !flushed.compare_exchange_weak(cur, seq)) {
    }
  }

  /// Asks the owner to drain soon (a write from a thread that is no handle).
  void poke() {
    if (auto a = owner())
      caf::anon_send(a, drain_atom::value);
  }

  /// The running owner, or none while it is down.
  caf::actor owner() const {
    std::lock_guard<std::mutex> guard{mtx};
    return owner_;
  }

  /// Called by the actor once its store is ready (after a restart's
  /// `reset`, which drops every linked entry as the previous owner's: a
  /// writer's drain before it would have linked writes made since).
  void set_owner(caf::actor a) {
    std::lock_guard<std::mutex> guard{mtx};
    running.store(static_cast<bool>(a), std::memory_order_release);
    store.set_owner_running(static_cast<bool>(a));
    owner_ = std::move(a);
  }

  /// The owner `addr` stopped: unless a successor already took over, its
  /// entries go with it (as they did when they lived in the actor).
  void retire(const caf::actor_addr& addr) {
    std::lock_guard<std::mutex> guard{mtx};
    if (owner_.address() != addr)
      return;
    running.store(false, std::memory_order_release);
    owner_ = caf::actor{};
    store.stop_owning();
  }

  /// Whether an owner runs, for the handles' fast path (no lock).
  std::atomic<bool> running{false};

private:
  mutable std::mutex mtx;
  caf::actor owner_;
};

} // namespace p21::cache_detail
