#include "rcu.hpp"

namespace p21::cache_detail {

namespace {

/// One call_rcu per batch of retired things, so that no node or value
/// carries an rcu_head of its own (16 bytes each).
struct retired_batch {
  rcu_head head;
  std::vector<retired> items;
};

void free_batch(rcu_head* head) {
  auto* b = caa_container_of(head, retired_batch, head);
#ifdef P21_RCU_TSAN
  // The batch came through liburcu's queue, the readers' ends through its
  // grace period: both unseen by TSan (see rcu.hpp).
  __tsan_acquire(b);
  __tsan_acquire(&rcu_tsan_sync);
#endif
  for (auto& r : b->items)
    r.free(r.ptr);
  delete b;
}

} // namespace

void free_after_grace_period(std::vector<retired> items) {
  if (items.empty())
    return;
  auto* b = new retired_batch{{}, std::move(items)};
#ifdef P21_RCU_TSAN
  __tsan_release(b);
#endif
  urcu_bp_call_rcu(&b->head, free_batch);
}

void wait_for_deferred_frees() {
  urcu_bp_barrier();
}

} // namespace p21::cache_detail
