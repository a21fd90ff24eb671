#pragma once

// What a cache shard shares with the handles of its process: the store
// (table and buffers) and how to reach the shard actor that owns its policy.
// Made with the shard's component spec, it outlives the actor's restarts.

#include <atomic>
#include <mutex>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "cache_store.hpp"

namespace p21::cache_detail {

/// Handle to owner: drain the buffers now (answered with `true` once done,
/// so a writer that found the write queue full can wait for it).
using drain_atom = caf::atom_constant<caf::atom("cdrain")>;

struct shard_shared {
  explicit shard_shared(store_config cfg)
    : store(std::move(cfg)) {
    // nop
  }

  cache_store store;

  /// The running owner, or none while it is down.
  caf::actor owner() const {
    std::lock_guard<std::mutex> guard{mtx};
    return owner_;
  }

  void set_owner(caf::actor a) {
    std::lock_guard<std::mutex> guard{mtx};
    running.store(static_cast<bool>(a), std::memory_order_release);
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
    store.clear();
  }

  /// Whether an owner runs, for the handles' fast path (no lock).
  std::atomic<bool> running{false};

private:
  mutable std::mutex mtx;
  caf::actor owner_;
};

} // namespace p21::cache_detail
