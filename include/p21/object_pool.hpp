#pragma once

// The report's MemoryPool: reuses objects to cut allocations, bounded, with
// stats and a trim() that the memory-pressure rule calls.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace p21 {

/// A bounded pool of reusable `T`. `acquire()` hands out an object that goes
/// back to the pool when its handle dies (or is freed when the pool is full).
/// Thread-safe; handles may outlive the pool object.
template <class T>
class object_pool {
public:
  struct stats_type {
    uint64_t allocations = 0;
    uint64_t reuses = 0;
    uint64_t in_use = 0;
    uint64_t idle = 0;
    uint64_t trimmed = 0;
  };

  using factory = std::function<std::unique_ptr<T>()>;
  /// Brings a returned object back to a clean state before reuse.
  using reset_fn = std::function<void(T&)>;

  explicit object_pool(
      size_t max_idle, factory make = [] { return std::make_unique<T>(); }, reset_fn reset = {})
    : state_(std::make_shared<state>()) {
    state_->max_idle = max_idle;
    state_->make = std::move(make);
    state_->reset = std::move(reset);
  }

  struct returner {
    std::shared_ptr<typename object_pool::state> owner;
    void operator()(T* x) const { owner->give_back(std::unique_ptr<T>{x}); }
  };

  using handle = std::unique_ptr<T, returner>;

  /// An object from the pool, or a new one.
  handle acquire() {
    std::unique_ptr<T> x;
    {
      std::lock_guard<std::mutex> guard{state_->mtx};
      ++state_->stats.in_use;
      if (!state_->idle.empty()) {
        x = std::move(state_->idle.back());
        state_->idle.pop_back();
        ++state_->stats.reuses;
      } else {
        ++state_->stats.allocations;
      }
    }
    if (!x)
      x = state_->make();
    return handle{x.release(), returner{state_}};
  }

  /// Frees `fraction` of the idle objects; returns how many.
  size_t trim(double fraction = 1.0) {
    std::vector<std::unique_ptr<T>> doomed;
    {
      std::lock_guard<std::mutex> guard{state_->mtx};
      auto n = static_cast<size_t>(fraction * static_cast<double>(state_->idle.size()) + 0.5);
      n = std::min(n, state_->idle.size());
      for (size_t i = 0; i < n; ++i) {
        doomed.push_back(std::move(state_->idle.back()));
        state_->idle.pop_back();
      }
      state_->stats.trimmed += n;
    }
    return doomed.size();
  }

  stats_type stats() const {
    std::lock_guard<std::mutex> guard{state_->mtx};
    auto s = state_->stats;
    s.idle = state_->idle.size();
    return s;
  }

private:
  struct state {
    std::mutex mtx;
    size_t max_idle = 0;
    factory make;
    reset_fn reset;
    std::vector<std::unique_ptr<T>> idle;
    stats_type stats;

    void give_back(std::unique_ptr<T> x) {
      if (reset)
        reset(*x);
      std::lock_guard<std::mutex> guard{mtx};
      --stats.in_use;
      if (idle.size() < max_idle)
        idle.push_back(std::move(x));
    }
  };

  std::shared_ptr<state> state_;
};

} // namespace p21
