// The cache store's side for any thread: the read records, the writes
// and removals the handles make at once in the table, and the queue that
// tells the owner about them (the owner's side is in cache_store.cpp).

#include "cache_store.hpp"

#include <memory>

namespace p21::cache_detail {

namespace {

/// What a key or value of `size` bytes is charged beyond the entry's
/// overhead, which holds up to 15 bytes of each: as a `std::string`'s heap
/// bytes were when keys and values were strings (see node_overhead).
uint64_t string_bytes(size_t size) {
  return size > 15 ? size + 1 : 0;
}

/// The bytes of a node's first value once another replaced it: its storage
/// is part of the node's allocation until the node goes.
uint64_t replaced_first_value(const table_node& n) {
  auto* first = n.first_value();
  return n.value.load(std::memory_order_relaxed) == first ? 0 : string_bytes(first->view().size());
}

struct free_node {
  void operator()(table_node* n) const noexcept { table_node::free(n); }
};

struct free_value {
  void operator()(stored_value* v) const noexcept { stored_value::free(v); }
};

} // namespace

/// While the owner ticks, a thread's reads note a use of the shard once per
/// this many hits (or misses).
constexpr uint64_t note_use_every = 1536;

bool cache_store::note_read(bool hit, uint64_t record) {
  auto stripe = read_buffer::stripe_of_this_thread();
  auto reads = reads_.count(stripe, hit);
  // While the owner ticks it drains soon anyway: a stripe that fills before
  // the tick drops records (more than 2048 reads of a thread a tick) rather
  // than wake it. Asking when full kept most of the cost (a copying hit 48
  // ns against 40). Hit rates under cache_contended did not move (0.7473
  // at 1 thread and 0.8088 at 4 either way).
  // Once per 1 536 reads of a thread all the same, the caller hears of it
  // with no request claimed: the handle notes the use of the shard (rule 4
  // unloads a component no one uses) and sends nothing (`drain_pending`).
  // A stripe reaches that point only if the reader outpaces the ticks: a
  // slower one (under 1 536 reads a tick) hears of it by its own count of
  // hits or misses instead, so that its reads still count as uses.
  auto r = reads_.push(stripe, record);
  bool ticking = ticking_.load(std::memory_order_relaxed);
  if (ticking && reads % note_use_every == 0)
    return true;
  if (r == read_buffer::pushed::kept)
    return false;
  if (ticking)
    return r == read_buffer::pushed::drain_point;
  return claim_drain_request();
}

bool cache_store::claim_drain_request() {
  // Read first: while a request is out, the common case, no thread writes
  // the shared flag.
  return !drain_requested_.load(std::memory_order_relaxed) &&
         !drain_requested_.exchange(true, std::memory_order_acq_rel);
}

cache_store::queued cache_store::enqueue(uint64_t hash, uint64_t bytes) {
  // One queue in write order: the policy sees writes in the order they
  // happened (per-thread queues would hand it each thread's writes in a
  // batch, which measurably skews W-TinyLFU's small window).
  queued q;
  bool ticking = false;
  {
    std::lock_guard<segment_lock> guard{writes_mtx_};
    writes_.push_back(hash);
    q.pending = writes_.size();
    pending_bytes_ += bytes;
    peak_pending_bytes_ = std::max(peak_pending_bytes_, pending_bytes_);
    q.pending_bytes = pending_bytes_;
    // Read under the lock the owner stops ticking under: either it sees
    // this write queued and ticks on, or this write sees it stopped.
    ticking = ticking_.load(std::memory_order_relaxed);
  }
  auto limit = write_limit();
  auto byte_limit = write_byte_limit();
  q.full = q.pending > limit || q.pending_bytes > byte_limit;
  // While the owner ticks, a quarter of the limits is worth a message of
  // its own (so that writers seldom find the queue full and wait); below
  // that the next tick takes the write.
  auto due = !ticking || q.pending >= std::max<size_t>(1, limit / 4) ||
             q.pending_bytes >= byte_limit / 4;
  q.drain = due && claim_drain_request();
  return q;
}

caf::expected<cache_store::queued> cache_store::write_until(std::string_view key, uint64_t hash,
                                                            std::string_view value,
                                                            time_point expires) {
  if (auto err = check_charge(entry_overhead() + key.size() + value.size()))
    return err;
  // Made before the lock, the copy being the write's longest part: for a
  // new key a node with the value in its allocation, for a present one the
  // value alone. Which one, a look without the lock tells; a write or
  // removal of the same key in between is rare, and then the other one is
  // made under the lock (and the unused one, never published, freed at
  // once).
  bool present = false;
  {
    read_guard guard;
    present = table_.find(key, hash) != nullptr;
  }
  std::unique_ptr<node, free_node> fresh{present ? nullptr
                                                 : node::make(hash, key, value, expires)};
  std::unique_ptr<stored_value, free_value> stored{present ? stored_value::make(value, expires)
                                                           : nullptr};
  uint64_t charge = 0;
  {
    auto w = table_.write(hash);
    auto* n = w.find(key, hash);
    if (n == nullptr) {
      n = fresh ? fresh.release() : node::make(hash, key, value, expires);
      w.insert(n);
    } else {
      w.set_value(n, stored ? stored.release() : stored_value::make(value, expires));
    }
    n->charge = entry_overhead() + string_bytes(key.size()) + string_bytes(value.size()) +
                replaced_first_value(*n);
    charge = n->charge;
  }
  reads_.count_put(read_buffer::stripe_of_this_thread());
  return enqueue(hash, charge);
}

bool cache_store::remove(std::string_view key, uint64_t hash, queued& q) {
  {
    auto w = table_.write(hash);
    auto* n = w.find(key, hash);
    if (n == nullptr || n->value.load(std::memory_order_relaxed) == nullptr)
      return false;
    if (!n->linked) {
      // The owner has not seen it yet: its queued write will find nothing.
      w.unchain(n);
      w.retire(n);
      return true;
    }
    // Linked nodes are the owner's to free; a null value is an erased
    // entry.
    w.set_value(n, nullptr);
  }
  q = enqueue(hash, key.size());
  return true;
}

size_t cache_store::pending_writes() const {
  std::lock_guard<segment_lock> guard{writes_mtx_};
  return writes_.size();
}

uint64_t cache_store::pending_write_bytes() const {
  std::lock_guard<segment_lock> guard{writes_mtx_};
  return pending_bytes_;
}

uint64_t cache_store::peak_pending_write_bytes() const {
  std::lock_guard<segment_lock> guard{writes_mtx_};
  return peak_pending_bytes_;
}

void cache_store::keep_draining() {
  std::lock_guard<segment_lock> guard{writes_mtx_};
  ticking_.store(true, std::memory_order_relaxed);
}

bool cache_store::stop_draining_if_idle() {
  std::lock_guard<segment_lock> guard{writes_mtx_};
  if (!writes_.empty())
    return false;
  ticking_.store(false, std::memory_order_relaxed);
  return true;
}

} // namespace p21::cache_detail
