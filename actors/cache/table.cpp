// The cache shard's table: writers' side (see table.hpp for the readers').

#include "table.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace p21::cache_detail {

namespace {

/// A segment hands what it retired to RCU as one batch of
/// `retired_batch::capacity` (256), or fewer when they hold this many bytes
/// (at most 4 MiB a shard wait for a hand-over). Each hand-over may wake
/// liburcu's call_rcu thread, which then waits for a grace period
/// (membarrier): with batches of 64 and a hand-over at every drain,
/// `cache_contended` (10 % puts) fell from 0.99x the mutex LRU to 0.61x on
/// this 2-vCPU machine.
constexpr uint64_t retire_batch_bytes = 64 << 10;

} // namespace

// -- stored_value -------------------------------------------------------------

size_t stored_value::allocation(size_t bytes) noexcept {
  return sizeof(stored_value) + bytes;
}

stored_value* stored_value::make(std::string_view bytes, time_point expires) {
  return place(::operator new(allocation(bytes.size())), bytes, expires);
}

stored_value* stored_value::place(void* mem, std::string_view bytes, time_point expires) noexcept {
  auto* v = new (mem) stored_value(expires, bytes.size());
  if (!bytes.empty())
    std::memcpy(v->data(), bytes.data(), bytes.size());
  return v;
}

void stored_value::free(void* p) noexcept {
  if (p == nullptr)
    return;
  static_cast<stored_value*>(p)->~stored_value();
  ::operator delete(p);
}

table_node* table_node::make(uint64_t hash, std::string_view key, std::string_view value,
                             time_point expires) {
  if (key.size() > UINT32_MAX)
    throw std::length_error{"a cache key of 4 GiB or more"};
  void* mem = ::operator new(sizeof(table_node) + key_room(key.size()) +
                             stored_value::allocation(value.size()));
  auto* n = new (mem) table_node;
  n->hash = hash;
  n->key_size = static_cast<uint32_t>(key.size());
  if (!key.empty())
    std::memcpy(reinterpret_cast<char*>(n + 1), key.data(), key.size());
  n->value.store(stored_value::place(const_cast<stored_value*>(n->first_value()), value, expires),
                 std::memory_order_relaxed);
  return n;
}

void table_node::free(void* p) noexcept {
  auto* n = static_cast<table_node*>(p);
  // The first value is part of the node; a later one is its own.
  if (auto* v = n->value.load(std::memory_order_relaxed); v != n->first_value())
    stored_value::free(v);
  n->~table_node();
  ::operator delete(p);
}

// -- bucket_array -------------------------------------------------------------

rcu_table::bucket_array* rcu_table::bucket_array::make(size_t n) {
  void* mem = ::operator new(sizeof(bucket_array) + n * sizeof(std::atomic<node*>));
  auto* b = new (mem) bucket_array{n - 1};
  for (size_t i = 0; i < n; ++i)
    new (&b->heads()[i]) std::atomic<node*>{nullptr};
  return b;
}

void rcu_table::bucket_array::free(void* p) noexcept {
  ::operator delete(p);
}

// -- segment ------------------------------------------------------------------

void rcu_table::segment::grow() {
  auto* old = buckets.load(std::memory_order_relaxed);
  auto* fresh = bucket_array::make(old == nullptr ? first_buckets.load(std::memory_order_relaxed)
                                                  : 2 * (old->mask + 1));
  auto seq = resizes.load(std::memory_order_relaxed);
  // Odd while nodes move: a reader that missed looks again.
  // The moves below are release stores: a reader that sees one sees this.
  resizes.store(seq + 1, std::memory_order_relaxed);
  if (old != nullptr) {
    ++rehashes;
    for (size_t i = 0; i <= old->mask; ++i)
      for (auto* n = old->heads()[i].load(std::memory_order_relaxed); n != nullptr;) {
        auto* next = n->chain.load(std::memory_order_relaxed);
        auto& head = fresh->heads()[bucket_of(n->hash, fresh->mask)];
        n->chain.store(head.load(std::memory_order_relaxed), std::memory_order_release);
        head.store(n, std::memory_order_release);
        n = next;
      }
  }
  buckets.store(fresh, std::memory_order_release);
  resizes.store(seq + 2, std::memory_order_release);
  if (old != nullptr)
    retire(old, &bucket_array::free, 0);
}

void rcu_table::segment::retire(void* p, void (*free)(void*), uint64_t bytes) {
  if (retired_items == nullptr || retired_items->full()) {
    // A full batch waits, chained, for the writer's unlock.
    auto* b = retired_batch::make();
    b->next = retired_items;
    retired_items = b;
  }
  retired_items->add(p, free);
  retired_bytes += bytes;
  has_retired.store(true, std::memory_order_relaxed);
}

// -- writer -------------------------------------------------------------------

rcu_table::writer::writer(segment& seg)
  : seg_(seg) {
  seg_.mtx.lock();
}

rcu_table::writer::~writer() {
  retired_batch* items = nullptr;
  // Full, or holding many bytes: handed over.
  if (auto* r = seg_.retired_items;
      r != nullptr && (r->full() || r->next != nullptr || seg_.retired_bytes >= retire_batch_bytes)) {
    std::swap(items, seg_.retired_items);
    seg_.retired_bytes = 0;
    seg_.has_retired.store(false, std::memory_order_relaxed);
  }
  seg_.mtx.unlock();
  free_after_grace_period(items);
}

void rcu_table::expect_entries(uint64_t entries) {
  size_t per_segment = static_cast<size_t>(
      std::min<uint64_t>((entries + segment_count - 1) / segment_count, max_first_buckets));
  size_t buckets = 16;
  while (buckets < per_segment)
    buckets *= 2;
  for (auto& seg : segments_)
    seg.first_buckets.store(buckets, std::memory_order_relaxed);
}

rcu_table::node* rcu_table::writer::find(std::string_view key, uint64_t hash) const {
  return seg_.find(key, hash);
}

void rcu_table::writer::insert(node* n) {
  auto* b = seg_.buckets.load(std::memory_order_relaxed);
  if (b == nullptr || seg_.count + 1 > b->mask + 1) {
    seg_.grow();
    b = seg_.buckets.load(std::memory_order_relaxed);
  }
  auto& head = b->heads()[bucket_of(n->hash, b->mask)];
  n->chain.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // Release: a reader that finds the node sees its key and value.
  head.store(n, std::memory_order_release);
  ++seg_.count;
}

void rcu_table::writer::unchain(node* n) {
  auto* b = seg_.buckets.load(std::memory_order_relaxed);
  if (b == nullptr)
    return;
  std::atomic<node*>* p = &b->heads()[bucket_of(n->hash, b->mask)];
  for (auto* cur = p->load(std::memory_order_relaxed); cur != nullptr;
       p = &cur->chain, cur = p->load(std::memory_order_relaxed))
    if (cur == n) {
      // `n->chain` stays: a reader on `n` walks on to the rest.
      p->store(n->chain.load(std::memory_order_relaxed), std::memory_order_release);
      --seg_.count;
      return;
    }
}

void rcu_table::writer::set_value(node* n, stored_value* v) {
  auto* old = n->value.exchange(v, std::memory_order_acq_rel);
  // The node's first value goes with the node.
  if (old != nullptr && old != n->first_value())
    seg_.retire(old, &stored_value::free, old->footprint());
}

void rcu_table::writer::retire(node* n) {
  auto* v = n->value.load(std::memory_order_relaxed);
  seg_.retire(n, &table_node::free, v != nullptr ? v->footprint() : 0);
}

rcu_table::writer rcu_table::write(uint64_t hash) {
  return writer{segment_of(hash)};
}

rcu_table::writer rcu_table::write_segment(size_t index) {
  return writer{segments_[index]};
}

// -- rcu_table ----------------------------------------------------------------

rcu_table::~rcu_table() {
  for (auto& seg : segments_) {
    if (auto* b = seg.buckets.load(std::memory_order_relaxed)) {
      for (size_t i = 0; i <= b->mask; ++i)
        for (auto* n = b->heads()[i].load(std::memory_order_relaxed); n != nullptr;) {
          auto* next = n->chain.load(std::memory_order_relaxed);
          table_node::free(n);
          n = next;
        }
      bucket_array::free(b);
    }
    // Retired, not yet handed over: no reader is left, so at once.
    retired_batch::free_now(seg.retired_items);
  }
}

rcu_table::node* rcu_table::find_hash(uint64_t hash) const {
  auto& seg = segment_of(hash);
  for (unsigned spins = 0;; ++spins) {
    auto seq = seg.resizes.load(std::memory_order_acquire);
    if ((seq & 1) == 0) {
      if (auto* b = seg.buckets.load(std::memory_order_acquire))
        for (auto* n = b->heads()[bucket_of(hash, b->mask)].load(std::memory_order_acquire);
             n != nullptr; n = n->chain.load(std::memory_order_acquire))
          if (n->hash == hash)
            return n;
      // See segment::find.
      if (seg.resizes.load(std::memory_order_acquire) == seq)
        return nullptr;
    }
    segment_lock::pause(spins);
  }
}

void rcu_table::flush_retired() {
  for (auto& seg : segments_) {
    if (!seg.has_retired.load(std::memory_order_relaxed))
      continue;
    retired_batch* items = nullptr;
    {
      std::lock_guard<segment_lock> guard{seg.mtx};
      std::swap(items, seg.retired_items);
      seg.retired_bytes = 0;
      seg.has_retired.store(false, std::memory_order_relaxed);
    }
    free_after_grace_period(items);
  }
}

size_t rcu_table::size() const {
  return sum_over_segments(&segment::count);
}

size_t rcu_table::rehashes() const {
  return sum_over_segments(&segment::rehashes);
}

size_t rcu_table::sum_over_segments(size_t segment::*field) const {
  size_t n = 0;
  for (auto& seg : segments_) {
    std::lock_guard<segment_lock> guard{seg.mtx};
    n += seg.*field;
  }
  return n;
}

} // namespace p21::cache_detail
