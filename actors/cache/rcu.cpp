#include "rcu.hpp"

#include <mutex>
#include <vector>

namespace p21::cache_detail {

namespace {

/// Spent batches for reuse: at most `kept` (4 KiB each) wait here.
class batch_pool {
public:
  static constexpr size_t kept = 64;

  retired_batch* take() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!free_.empty()) {
        auto* b = free_.back();
        free_.pop_back();
        return b;
      }
    }
    return new retired_batch;
  }

  void give(retired_batch* b) {
    b->count = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (free_.size() < kept) {
        free_.push_back(b);
        return;
      }
    }
    delete b;
  }

private:
  std::mutex mtx_;
  std::vector<retired_batch*> free_;
};

batch_pool& pool() {
  // Never destroyed: liburcu's thread may free batches after static
  // destructors ran.
  static auto* p = new batch_pool;
  return *p;
}

void free_batch(rcu_head* head) {
  auto* b = caa_container_of(head, retired_batch, head);
#ifdef P21_RCU_TSAN
  // The batch came through liburcu's queue, the readers' ends through its
  // grace period: both unseen by TSan (see rcu.hpp).
  __tsan_acquire(b);
  __tsan_acquire(&rcu_tsan_sync);
#endif
  retired_batch::free_now(b);
}

} // namespace

retired_batch* retired_batch::make() {
  // The pool's lock orders its reuse after liburcu's thread emptied it.
  return pool().take();
}

void retired_batch::free_now(retired_batch* chain) noexcept {
  while (chain != nullptr) {
    auto* next = chain->next;
    for (size_t i = 0; i < chain->count; ++i)
      chain->items[i].free(chain->items[i].ptr);
    chain->next = nullptr;
    pool().give(chain);
    chain = next;
  }
}

void free_after_grace_period(retired_batch* chain) {
  while (chain != nullptr) {
    auto* batch = chain;
    chain = chain->next;
    batch->next = nullptr;
#ifdef P21_RCU_TSAN
    __tsan_release(batch);
#endif
    urcu_bp_call_rcu(&batch->head, free_batch);
  }
}

void wait_for_deferred_frees() {
  urcu_bp_barrier();
}

namespace {

/// Standard layout (for caa_container_of): the function is held apart.
struct deferred_call {
  rcu_head head{};
  std::function<void()>* fn = nullptr;
};

void run_deferred_call(rcu_head* head) {
  auto* c = caa_container_of(head, deferred_call, head);
  (*c->fn)();
  delete c->fn;
  delete c;
}

} // namespace

void after_deferred_frees(std::function<void()> fn) {
  auto* c = new deferred_call;
  c->fn = new std::function<void()>(std::move(fn));
  urcu_bp_call_rcu(&c->head, run_deferred_call);
}

} // namespace p21::cache_detail
