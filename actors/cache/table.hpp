#pragma once

// The table of a cache shard: a chained hash table in 64 segments that
// readers search without a lock and writers change under their segment's
// lock, with the memory readers may hold freed by userspace RCU (rcu.hpp).
// No CAF, no policy: the cache store (cache_store.hpp) builds its eviction
// on top, and the table's own stress test builds it alone under TSan.
//
// Why a table of our own on liburcu's reclamation and not liburcu's
// `cds_lfht`: a hit on 256 keys through `cds_lfht_lookup` cost 25 to 28 ns
// here (split-ordered lists, a call and a match callback per lookup), above
// the whole budget of a hit (21 ns); this table's lookup is a bucket load
// and a short chain walk, inlined. Writers are few (puts and the owner's
// drains) and a segment lock suits them.
//
// How readers stay safe without a lock:
// - a value is immutable once published (`stored_value`): a write makes a
//   new one and swaps the node's pointer, so a reader sees the old value or
//   the new one, never a torn mix, and the old one is freed only after
//   every read section that might hold it has ended;
// - a node is unchained with its `chain` intact, so a reader standing on it
//   walks on, and freed after a grace period as well;
// - a segment's rehash moves nodes between chains, which can make a reader
//   walk past its key: the segment's `resizes` count (odd while a rehash
//   runs) makes a reader that found nothing look again. A reader that found
//   its key needs no check.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "key_hash.hpp"
#include "rcu.hpp"
#include "segment_lock.hpp"

namespace p21::cache_detail {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;

/// A value as the table stores it: its bytes and when it expires, in one
/// allocation, never changed once a node points to it.
class stored_value {
public:
  static stored_value* make(std::string_view bytes, time_point expires);
  static void free(void* p) noexcept;

  std::string_view view() const noexcept { return {data(), size_}; }
  time_point expires() const noexcept { return expires_; }
  /// Bytes its allocation takes (for the byte budget).
  size_t footprint() const noexcept { return allocation(size_); }
  static size_t allocation(size_t bytes) noexcept;

private:
  friend struct table_node;
  /// Builds a value in `mem` (`allocation(bytes.size())` bytes).
  static stored_value* place(void* mem, std::string_view bytes, time_point expires) noexcept;

  stored_value(time_point expires, uint64_t size)
    : expires_(expires)
    , size_(size) {}
  const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }

  time_point expires_;
  uint64_t size_;
};

/// One entry of the table. `chain`, `hash` and the key are fixed once it is
/// in the table (`chain` changes only by a rehash or an unchain of its
/// successor); `value` (null: erased) changes under the segment's lock and
/// readers load it. The rest belongs to the cache store: `slot` is set by
/// the owner and read by readers (relaxed: a stale slot is a lost read
/// record at worst); `charge` is set under the segment's lock, `linked`
/// and `accounted` by the owner.
///
/// A node, its key's bytes and its first value are one allocation, in that
/// order (`make`): a new entry costs one allocation, not two (three for a
/// key past `std::string`'s 15 inline bytes), and one free on liburcu's
/// thread. Those frees come from another thread than the allocations, so
/// each one took glibc's slow path (its thread caches stay empty on the
/// writers' side): `malloc` and its consolidation were a third of a put's
/// samples under `cache_contended`. A hit reads the key and the value's
/// header on the lines right after the node's fields. A value that
/// replaces the first one is an allocation of its own; the first one's
/// storage stays with the node until the node is freed (a reader may still
/// hold it), and the cache store counts it in the entry's charge.
struct table_node {
  static constexpr uint32_t no_slot = UINT32_MAX;

  std::atomic<table_node*> chain{nullptr};
  uint64_t hash = 0;
  std::atomic<stored_value*> value{nullptr};
  uint64_t charge = 0;
  uint64_t accounted = 0;
  std::atomic<uint32_t> slot{no_slot};
  uint32_t key_size = 0;
  bool linked = false;

  /// A node of `hash` and `key` holding `value` until `expires`, the key
  /// and the value in the node's own allocation.
  static table_node* make(uint64_t hash, std::string_view key, std::string_view value,
                          time_point expires);
  /// Frees a node made by `make` and its value (the table's deferred free).
  static void free(void* p) noexcept;

  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), key_size};
  }
  /// The value the node was made with (its storage, whether or not it is
  /// still the node's value).
  const stored_value* first_value() const noexcept {
    return reinterpret_cast<const stored_value*>(reinterpret_cast<const char*>(this + 1) +
                                                 key_room(key_size));
  }
  /// Bytes a key of `size` takes in its node: rounded up to 8, so that the
  /// value after it is aligned.
  static constexpr size_t key_room(size_t size) noexcept { return (size + 7) & ~size_t{7}; }

private:
  table_node() = default;
};
static_assert(sizeof(table_node) % alignof(stored_value) == 0 && alignof(stored_value) <= 8,
              "a node's key and first value follow it, aligned");

class rcu_table {
public:
  using node = table_node;
  static constexpr size_t segment_count = 64;
  static_assert(segment_count == 64, "segment_index takes the top 6 bits");

  rcu_table() = default;
  /// Frees every node at once: no reader may be left.
  ~rcu_table();

  rcu_table(const rcu_table&) = delete;
  rcu_table& operator=(const rcu_table&) = delete;

  /// A key's segment: the hash's top 6 bits. The hash is XXH3's, mixed
  /// already, so it is used as it is: the shard takes it modulo the shard
  /// count (its low bits), the segment its top bits, the bucket the bits
  /// from 16 up (`bucket_of`). A splitmix64 finalizer in between cost a hit
  /// two dependent multiplies before its first load.
  static size_t segment_index(uint64_t hash) { return hash >> 58; }

  // -- readers (inside a read_guard) -----------------------------------------

  /// The node of `key`, or null. Lock-free; the node (and the value it
  /// points to at any moment of the section) stays allocated until the
  /// read_guard ends. A writer's change made before the call is seen.
  node* find(std::string_view key, uint64_t hash) const;

  /// The first node whose hash is `hash` (the owner's read records).
  node* find_hash(uint64_t hash) const;

  // -- writers ----------------------------------------------------------------

  class segment;

  /// Holds a segment's lock; changes to the segment go through it. What it
  /// retires is handed to RCU after the lock is released.
  class writer {
  public:
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;
    ~writer();

    node* find(std::string_view key, uint64_t hash) const;
    /// Links a new node (its hash, key and value set) at its bucket's head.
    void insert(node* n);
    /// Takes `n` out of its chain; readers on it walk on. Follow with
    /// `retire(n)` unless it stays the caller's.
    void unchain(node* n);
    /// Publishes `v` (may be null: erased) as `n`'s value; the old one is
    /// freed after a grace period (the node's first value with the node).
    void set_value(node* n, stored_value* v);
    /// Frees an unchained node after a grace period.
    void retire(node* n);
    /// Calls `f(n)` for each node; `f` may unchain and retire `n`.
    template <class F>
    void for_each(F f);
    /// The same for each node whose hash is `hash` (of this segment).
    template <class F>
    void for_each_of(uint64_t hash, F f);

  private:
    friend class rcu_table;
    explicit writer(segment& seg);
    /// Calls `f(n)` for each node of the chain at `head`.
    template <class F>
    static void walk(const std::atomic<node*>& head, F f);
    segment& seg_;
  };

  writer write(uint64_t hash);
  writer write_segment(size_t index);

  /// Sizes the buckets a segment starts with (at its first insert, and
  /// again after a clear) for `entries` in the whole table, at a load of at
  /// most one: 16 to `max_first_buckets` a segment. A segment that
  /// outgrows them doubles as before. Without it a cache filling up (after
  /// its start or a clear) rehashed each segment five times on its way to
  /// 25 000 entries, a twelfth of a put's samples under `cache_contended`.
  void expect_entries(uint64_t entries);
  /// 8 KiB of buckets a segment, half a MiB a table: 65 536 entries fill
  /// it without a rehash, and a cache sized for millions holding a few
  /// does not start with megabytes of empty buckets.
  static constexpr size_t max_first_buckets = 1024;

  /// Empties the table; calls `f(n)` once for each node it held (before
  /// the node is retired). Readers see the table empty once it returns.
  template <class F>
  void clear(F f);

  /// Hands everything retired so far to RCU (the owner, after a drain).
  void flush_retired();

  /// Nodes in the table (erased ones included).
  size_t size() const;

  /// Times a segment moved its nodes to a larger bucket array (tests).
  size_t rehashes() const;

  struct bucket_array;

  class segment {
  public:
    // What writers change, apart from what readers read.
    alignas(64) mutable segment_lock mtx;
    size_t count = 0;
    /// Whether `retired_items` may hold something (read without the lock).
    std::atomic<bool> has_retired{false};
    retired_batch* retired_items = nullptr;
    uint64_t retired_bytes = 0;
    /// Buckets of the first array (`expect_entries`).
    std::atomic<size_t> first_buckets{16};
    size_t rehashes = 0;
    // What readers read: a seqcount of rehashes and the buckets.
    alignas(64) std::atomic<uint32_t> resizes{0};
    std::atomic<bucket_array*> buckets{nullptr};

    node* find(std::string_view key, uint64_t hash) const;
    void grow();
    void retire(void* p, void (*free)(void*), uint64_t bytes);
  };

private:
  /// `field` of every segment, summed under each one's lock.
  size_t sum_over_segments(size_t segment::*field) const;
  segment& segment_of(uint64_t hash) { return segments_[segment_index(hash)]; }
  const segment& segment_of(uint64_t hash) const { return segments_[segment_index(hash)]; }

  std::array<segment, segment_count> segments_;
};

/// Buckets of a segment, allocated with their heads in one block.
struct rcu_table::bucket_array {
  size_t mask;
  std::atomic<node*>* heads() noexcept { return reinterpret_cast<std::atomic<node*>*>(this + 1); }
  const std::atomic<node*>* heads() const noexcept {
    return reinterpret_cast<const std::atomic<node*>*>(this + 1);
  }
  static bucket_array* make(size_t n);
  static void free(void* p) noexcept;
};

/// Whether a node's key `a` is `b`. Inlined, with word compares for keys
/// of 4 to 16 bytes: the hash matched already, so this nearly always
/// compares equal bytes, and `std::string`'s `==` called `memcmp` through
/// the PLT, a tenth of a hit's samples in bench/p21_bench_cache's
/// concurrent_hit.
inline bool same_key(std::string_view a, std::string_view b) noexcept {
  auto n = a.size();
  if (n != b.size())
    return false;
  const char* p = a.data();
  const char* q = b.data();
  if (n > 16)
    return std::memcmp(p, q, n) == 0;
  if (n >= 8) {
    uint64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    std::memcpy(&x0, p, 8);
    std::memcpy(&y0, q, 8);
    std::memcpy(&x1, p + n - 8, 8);
    std::memcpy(&y1, q + n - 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  if (n >= 4) {
    uint32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    std::memcpy(&x0, p, 4);
    std::memcpy(&y0, q, 4);
    std::memcpy(&x1, p + n - 4, 4);
    std::memcpy(&y1, q + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  for (size_t i = 0; i < n; ++i)
    if (p[i] != q[i])
      return false;
  return true;
}

/// The bucket of a hash in a segment (see `segment_index`: bits 16 and up,
/// clear of the shard's low bits and the segment's top ones).
inline size_t bucket_of(uint64_t hash, size_t mask) {
  return (hash >> 16) & mask;
}

inline rcu_table::node* rcu_table::segment::find(std::string_view key, uint64_t hash) const {
  for (unsigned spins = 0;; ++spins) {
    auto seq = resizes.load(std::memory_order_acquire);
    if ((seq & 1) == 0) {
      if (auto* b = buckets.load(std::memory_order_acquire)) {
        for (auto* n = b->heads()[bucket_of(hash, b->mask)].load(std::memory_order_acquire);
             n != nullptr; n = n->chain.load(std::memory_order_acquire))
          if (n->hash == hash && same_key(n->key(), key))
            return n;
      }
      // No fence (TSan has none): the chain loads above are acquires, so
      // this load stays after them, and one that read a link a rehash
      // wrote sees that rehash's odd count.
      if (resizes.load(std::memory_order_acquire) == seq)
        return nullptr;
    }
    segment_lock::pause(spins);
  }
}

inline rcu_table::node* rcu_table::find(std::string_view key, uint64_t hash) const {
  return segment_of(hash).find(key, hash);
}

template <class F>
void rcu_table::writer::walk(const std::atomic<node*>& head, F f) {
  for (auto* n = head.load(std::memory_order_relaxed); n != nullptr;) {
    // Read before `f`, which may unchain and retire `n` (its chain stays
    // intact until the grace period).
    auto* next = n->chain.load(std::memory_order_relaxed);
    f(n);
    n = next;
  }
}

template <class F>
void rcu_table::writer::for_each(F f) {
  auto* b = seg_.buckets.load(std::memory_order_relaxed);
  if (b == nullptr)
    return;
  for (size_t i = 0; i <= b->mask; ++i)
    walk(b->heads()[i], f);
}

template <class F>
void rcu_table::writer::for_each_of(uint64_t hash, F f) {
  auto* b = seg_.buckets.load(std::memory_order_relaxed);
  if (b == nullptr)
    return;
  walk(b->heads()[bucket_of(hash, b->mask)], [&](node* n) {
    if (n->hash == hash)
      f(n);
  });
}

template <class F>
void rcu_table::clear(F f) {
  for (auto& seg : segments_) {
    bucket_array* old = nullptr;
    retired_batch* items = nullptr;
    {
      std::lock_guard<segment_lock> guard{seg.mtx};
      old = seg.buckets.exchange(nullptr, std::memory_order_acq_rel);
      seg.count = 0;
      std::swap(items, seg.retired_items);
      seg.retired_bytes = 0;
      seg.has_retired.store(false, std::memory_order_relaxed);
    }
    auto add = [&items](void* p, void (*free)(void*)) {
      if (items != nullptr && items->full()) {
        free_after_grace_period(items);
        items = nullptr;
      }
      if (items == nullptr)
        items = retired_batch::make();
      items->add(p, free);
    };
    if (old != nullptr) {
      for (size_t i = 0; i <= old->mask; ++i)
        for (auto* n = old->heads()[i].load(std::memory_order_relaxed); n != nullptr;
             n = n->chain.load(std::memory_order_relaxed)) {
          f(n);
          add(n, &table_node::free);
        }
      add(old, &bucket_array::free);
    }
    free_after_grace_period(items);
  }
}

} // namespace p21::cache_detail
