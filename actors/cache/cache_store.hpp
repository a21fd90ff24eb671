#pragma once

// One cache shard's entries and eviction policy, Caffeine's design in plain
// C++: the entries live in a segmented hash table (table.hpp) that any
// thread reads without a lock and writes under a short segment lock; what
// threads do is recorded in two
// buffers (a lossy, striped buffer of reads, a bounded queue of writes);
// whoever holds the owner lock, the shard actor or a writer draining in
// place, drains both and alone changes the policy state (LRU order or
// W-TinyLFU's window, probation, protected and sketch, byte accounting,
// capacity and TTL). The owner-side calls (`get`, `put`, ...)
// apply the policy at once; tests, `p21 cache-sim` and single-threaded users
// (the tagged cache, the cluster's near cache) use only those.
//
// Who may call what:
// - any thread: `lookup`, `visit`, `write`, `remove`, `settle`, `try_drain`,
//   `default_ttl`, `max_bytes`;
// - the owner's side, everything else: any thread as well, each call under
//   the owner lock (owner_drain.cpp). The shard actor takes it for its
//   calls; a writer that takes the write queue past its mark while the
//   actor ticks tries it (never waits on it) and drains the buffers itself,
//   as Caffeine's writers run its maintenance under `evictionLock.tryLock()`.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <time.h>

#include "frequency_sketch.hpp"
#include "ghost_index.hpp"
#include "key_hash.hpp"
#include "p21/cache_config.hpp"
#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/protocol/cache.hpp"
#include "read_buffer.hpp"
#include "segment_lock.hpp"
#include "table.hpp"
#include "window_tuner.hpp"

namespace p21::cache_detail {

/// Which entries leave when the cache is full (`[cache] policy`).
using eviction = eviction_policy;

/// A shard's share of a cache-wide limit: rounded up, never 0.
inline uint64_t per_shard(uint64_t total, size_t shards) {
  return std::max<uint64_t>(1, (total + shards - 1) / shards);
}

/// Settings of one cache (or shard).
struct store_config {
  std::string name = "cache";
  uint64_t max_entries = 512;
  uint64_t max_bytes = 64ull << 20;
  /// Default TTL; zero means entries do not expire.
  timespan ttl{0};
  eviction policy = eviction::lru;
};

/// Bytes one entry costs besides its key and value: the table node, its
/// allocation header and its bucket slot, so that `max_bytes` bounds real
/// memory.
size_t entry_overhead();

/// What a concurrent `lookup` found.
enum class lookup_result { hit, miss };

/// Whether an entry expiring at `expires` is still fresh. Most entries
/// expire minutes or hours away, and for them the kernel's tick clock
/// (CLOCK_MONOTONIC_COARSE, the clock steady_clock reads, as of the last
/// tick) answers: a read from the vDSO without the hardware counter, 4 ns
/// here against 26 ns for the exact clock, which was a fifth of a hit's
/// cost. It lags the exact time by at most a tick or two (4 ms each);
/// entries closer than `near_expiry` to their end ask the exact clock, so
/// that an expired entry is still never returned.
inline bool fresh(time_point expires) {
  if (expires == time_point::max())
    return true;
#ifdef CLOCK_MONOTONIC_COARSE
  constexpr auto near_expiry = std::chrono::milliseconds{50};
  timespec ts{};
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0) {
    auto coarse = time_point{std::chrono::seconds{ts.tv_sec} + std::chrono::nanoseconds{ts.tv_nsec}};
    if (expires - near_expiry > coarse)
      return true;
  }
#endif
  return expires > clock::now();
}

/// One cache's entries and eviction order (see the top of this file for who
/// may call what).
class cache_store {
public:
  explicit cache_store(store_config cfg);
  ~cache_store();

  cache_store(const cache_store&) = delete;
  cache_store& operator=(const cache_store&) = delete;

  // -- any thread -------------------------------------------------------------

  /// Copies the value of `key` into `out` unless it is absent, erased or
  /// expired; records the read for the owner. Sets `drain` when the owner
  /// should drain the buffers soon.
  lookup_result lookup(std::string_view key, uint64_t hash, std::string& out, bool& drain) {
    return visit(
        key, hash, [&out](std::string_view v) { out.assign(v.data(), v.size()); }, drain);
  }

  /// The same without a copy: calls `f(value)` on a hit, with a view of the
  /// stored bytes that is valid until `f` returns (an RCU read section: `f`
  /// must not wait for other threads of the cache, but may read and write
  /// it). Takes no lock and writes no shared cache line besides the read
  /// record of this thread's stripe.
  template <class F>
  lookup_result visit(std::string_view key, uint64_t hash, F&& f, bool& drain) {
    bool hit = false;
    uint64_t record = hash;
    {
      read_guard guard;
      if (auto* n = table_.find(key, hash)) {
        auto* v = n->value.load(std::memory_order_acquire);
        if (v != nullptr && fresh(v->expires())) {
          hit = true;
          // A linked node's slot spares the owner the lookup; misses,
          // expired entries and writes not yet drained give the hash,
          // which the owner looks up.
          if (auto slot = n->slot.load(std::memory_order_relaxed); slot != no_slot)
            record = slot_record | slot;
          f(v->view());
        }
      }
    }
    drain = note_read(hit, record);
    return hit ? lookup_result::hit : lookup_result::miss;
  }

  /// What a `write` or `remove` left for the owner.
  struct queued {
    /// Writes waiting for the owner, this one included.
    size_t pending = 0;
    /// Bytes those writes stored that the owner has not accounted yet.
    uint64_t pending_bytes = 0;
    /// Whether the queue is past `write_limit` or `write_byte_limit`: the
    /// caller waits for a drain.
    bool full = false;
    /// Whether the caller claimed the drain request (no one had): it
    /// drains or asks the owner to (`settle`).
    bool drain = false;
  };

  /// Stores `value` at once (the next `lookup` of any thread sees it) and
  /// queues the write for the owner, which then accounts and evicts. Refuses
  /// with `invalid_argument` an entry larger than the byte capacity.
  caf::expected<queued> write(std::string_view key, uint64_t hash, std::string_view value,
                              timespan ttl, time_point now) {
    return write_until(key, hash, value, expiry(ttl, now));
  }

  /// The same as of now: the clock is read only for an entry with a TTL
  /// (the exact clock cost 26 ns here, a tenth of a put).
  caf::expected<queued> write(std::string_view key, uint64_t hash, std::string_view value,
                              timespan ttl) {
    auto expires = expiry(ttl, time_point{});
    if (expires != time_point::max())
      expires = expiry(ttl, clock::now());
    return write_until(key, hash, value, expires);
  }

  /// Removes `key` at once for every reader; the owner frees it on its next
  /// drain. Returns whether it was there.
  bool remove(std::string_view key, uint64_t hash, queued& q);

  /// Forgets a drain request the owner will not see (it was down).
  void drain_request_lost() { drain_requested_.store(false, std::memory_order_relaxed); }

  /// What the writer of `q` (a `write` or `remove`) does next (`settle`).
  enum class next_step {
    nothing,        ///< the owner (or a writer draining now) takes the write
    drained,        ///< the writer drained the buffers itself
    ask_owner,      ///< send the owner a drain request (no reply)
    wait_for_owner, ///< the queue is full and no owner runs: ask and wait
  };

  /// Any thread, right after `write` or `remove` (not under the owner
  /// lock): a queue past its limit is drained at once, the writer waiting
  /// for the owner lock (at most one drain); a drain request claimed while
  /// the owner ticks is served in place if the lock is free, and dropped if
  /// not (whoever holds it drains, or the next writer past the mark or the
  /// next tick does). Only while an owner runs (`set_owner_running`):
  /// otherwise the owner's start drains what waits. A request claimed while
  /// the owner does not tick still goes to the owner, which then starts
  /// ticking: draining in place once per write would scan every read stripe
  /// per put.
  next_step settle(const queued& q);

  /// Any thread: drains under the owner lock unless another thread holds
  /// it; the number of records applied, or none when it was held (or no
  /// owner runs). The owner's ticks use it, so that the actor never waits
  /// on a writer's drain for a drain of its own.
  std::optional<size_t> try_drain();

  /// Whether writers may drain in place: an owner runs. Set by the shard
  /// when its actor starts (after its `reset`), cleared by `stop_owning`.
  void set_owner_running(bool running);

  /// The owner stopped: writers no longer drain, and every entry goes (as
  /// `clear`), under one hold of the owner lock.
  void stop_owning();

  /// How many writes wait for the owner.
  size_t pending_writes() const;

  /// A writer that sees more writes pending than this waits for a drain
  /// (writes are never dropped): a sixty-fourth of the capacity, 16 to
  /// 4096, so that the table overshoots its capacity by little. With a
  /// sixteenth, a trace where every entry counts (recency) replayed from 4
  /// threads got 1 to 1.5 points more hits than the cache's size allows.
  size_t write_limit() const { return write_limit_.load(std::memory_order_relaxed); }

  /// The same in bytes: a sixty-fourth of the byte capacity. Values are
  /// in the table from the write on but counted against the capacity only
  /// once the owner drains, so without it 16 writers of large values held
  /// 1.76 GB for a 64 MiB cache (4096 queued entries of any size).
  uint64_t write_byte_limit() const { return write_byte_limit_.load(std::memory_order_relaxed); }

  /// Bytes the queued writes stored, not yet accounted by the owner.
  uint64_t pending_write_bytes() const;

  /// The most `pending_write_bytes` ever was (tests, diagnostics).
  uint64_t peak_pending_write_bytes() const;

  // -- the owner: draining ----------------------------------------------------

  /// Applies every recorded read and write to the policy, then evicts down
  /// to capacity. Returns how many records (reads and writes) it applied.
  /// Waits for the owner lock (see `try_drain`).
  size_t drain();

  /// The owner will drain again within a short while (a timer of its own)
  /// and for as long as reads or writes keep coming: until then a write
  /// asks for a drain only when a quarter of `write_limit` (or of
  /// `write_byte_limit`) waits, and a reader never asks (a stripe that
  /// fills before the next drain drops records). A message per write was a
  /// scheduler thread's wake-up (a futex call) per put, most of a put's
  /// cost under `cache_contended`; one per 1 536 reads of a thread, and the
  /// owner's drain on the other core that it started, cost a copying hit 9
  /// ns (`cache_direct`) on this 2-vCPU machine.
  void keep_draining();

  /// Whether the owner ticks (`keep_draining`): any thread.
  bool ticking() const { return ticking_.load(std::memory_order_relaxed); }

  /// Whether a drain request was claimed and not yet served: any thread.
  bool drain_pending() const { return drain_requested_.load(std::memory_order_relaxed); }

  /// Ends `keep_draining` unless a write waits: true if it ended (writes
  /// ask for a drain again), false if the owner should drain once more.
  bool stop_draining_if_idle();

  /// Counts one `get_or_load` that ran its loader without the shard (the
  /// shard was down): any thread.
  void record_bypass() { bypasses_.fetch_add(1, std::memory_order_relaxed); }

  // -- the owner: lookups -----------------------------------------------------

  /// The value, or none when absent or expired (an expired entry is removed
  /// and counted, never returned). Counts a hit or a miss.
  std::optional<std::string> get(const std::string& key, time_point now);

  /// Whether `key` is present and fresh, without touching stats or order.
  bool contains(const std::string& key, time_point now) const;

  // -- the owner: modifiers ---------------------------------------------------

  /// Inserts or replaces; `ttl` zero means the default TTL. Refuses with
  /// `invalid_argument` an entry larger than `max_bytes`.
  caf::error put(const std::string& key, std::string value, timespan ttl, time_point now);

  /// Removes `key`; returns whether it was there.
  bool erase(const std::string& key);

  /// Removes everything, queued writes included; returns how many entries
  /// went.
  uint64_t clear();

  /// Back to the state the store was made in (a restarted shard): the
  /// entries of the previous owner gone, the configured capacity and TTL,
  /// counters at zero. Writes made since that owner stopped stay.
  void reset();

  /// Evicts `fraction` (0..1] of the entries, coldest first.
  shrink_result shrink(double fraction);

  /// Changes the capacity, evicting coldest entries as needed.
  caf::error resize(uint64_t max_entries, uint64_t max_bytes);

  /// Changes the default TTL of future puts.
  void set_ttl(timespan ttl);

  /// Counts one `get_or_load` loader run.
  void record_load(bool success, timespan duration);

  // -- the owner: properties --------------------------------------------------

  cache_stats stats() const;
  /// Changed only by the owner's `resize`, `set_ttl` and `reset` (writers'
  /// drains read it): the actor reads it without the lock.
  const store_config& config() const noexcept { return cfg_; }
  size_t size() const;
  uint64_t bytes() const;
  /// `bytes()` for any thread (the resource manager's measure).
  uint64_t held_bytes() const noexcept { return held_bytes_.load(std::memory_order_relaxed); }
  /// The admission window's share of the capacity (tinylfu), for tests.
  double window_fraction() const;

  /// Keys from coldest to hottest (eviction order), for tests and tools.
  std::vector<std::string> coldest_first() const;

  /// Times the table's segments outgrew their buckets (tests).
  size_t table_rehashes() const { return table_.rehashes(); }

private:
  enum region : uint8_t { window, probation, protected_main };

  static constexpr uint32_t no_slot = table_node::no_slot;
  /// A read record is the key's hash or, for a hit on a linked node, the
  /// node's slot with the top 32 bits set. A key whose hash has those 32
  /// bits set (one in four billion) has its reads taken for a slot's: as
  /// lost as a dropped record, and as harmless.
  static constexpr uint64_t slot_record = 0xffff'ffffull << 32;
  static bool names_slot(uint64_t record) { return (record & slot_record) == slot_record; }

  /// One entry (table.hpp): the table's fields and the policy's `charge`,
  /// `accounted`, `slot` and `linked`. The entry's place in the eviction
  /// order is not there but in the owner's `links_` (see `policy_link`).
  using node = table_node;

  /// A linked node's place in the eviction order, kept apart from the node
  /// in an array only the owner touches. A hit moves its entry to the front
  /// of a list: with the links in the node, each move wrote the cache lines
  /// of three nodes that readers on other cores were reading, and a hit
  /// cost 20 ns more (cache_direct). Readers record a hit as the node's
  /// slot, so that the owner applies it without looking the key up.
  struct policy_link {
    node* n = nullptr; // null: a free slot
    uint32_t prev = no_slot;
    uint32_t next = no_slot;
    region where = window;
  };

  /// A doubly linked list of slots, hottest first (owner only).
  struct order {
    uint32_t head = no_slot;
    uint32_t tail = no_slot;
    size_t size = 0;
  };

  static constexpr size_t segment_count = rcu_table::segment_count;

public:
  /// Bytes of one table node with its allocation header and bucket slot,
  /// and its place in the eviction order.
  static size_t node_overhead() {
    // A key and a value of up to 15 bytes each are part of it too, as
    // short strings were when keys and values were `std::string`s.
    return sizeof(node) + node::key_room(16) + 2 * sizeof(void*) + sizeof(policy_link) +
           stored_value::allocation(16);
  }

private:
  static size_t segment_index(uint64_t hash) { return rcu_table::segment_index(hash); }
  // The owner's side with the owner lock held (the public calls take it).
  size_t drain_owned();
  caf::error resize_owned(uint64_t max_entries, uint64_t max_bytes);
  uint64_t clear_owned();
  /// `window_fraction` with the owner lock held.
  double window_share() const;
  /// Counts a read and records it for the owner; returns whether the owner
  /// should drain soon.
  bool note_read(bool hit, uint64_t record);
  time_point expiry(timespan ttl, time_point now) const;
  caf::expected<queued> write_until(std::string_view key, uint64_t hash, std::string_view value,
                                    time_point expires);
  caf::error check_charge(uint64_t charge) const;

  order& list_of(region r);
  void push_front(order& l, node* n);
  void unlink(order& l, node* n);
  node* tail_of(const order& l) const { return l.tail == no_slot ? nullptr : links_[l.tail].n; }
  node* head_of(const order& l) const { return l.head == no_slot ? nullptr : links_[l.head].n; }
  node* next_of(const node* n) const {
    auto s = links_[slot_of(n)].next;
    return s == no_slot ? nullptr : links_[s].n;
  }
  node* prev_of(const node* n) const {
    auto s = links_[slot_of(n)].prev;
    return s == no_slot ? nullptr : links_[s].n;
  }
  static uint32_t slot_of(const node* n) { return n->slot.load(std::memory_order_relaxed); }
  region& where_of(const node* n) { return links_[slot_of(n)].where; }
  /// Gives `n` a slot in `links_`, and takes it back.
  void take_slot(node* n);
  void free_slot(node* n);
  /// Takes a linked node out of the eviction order and the accounting.
  void unlink_entry(node* n);
  /// Empties the eviction order and the accounting (the entries went all
  /// at once).
  void forget_policy();
  /// Puts a node the table holds under the policy (under its segment lock).
  void link(node* n);
  /// Removes a node from the policy and the table, and frees it.
  void destroy(node* n);
  void touch(node* n);
  void evict(node* n);
  /// Applies one recorded write (or erase) of a key of hash `hash`.
  void apply_write(uint64_t hash);
  /// Applies the recorded reads in `read_batch_` (key hashes), then empties
  /// it.
  void apply_reads(time_point now);
  /// Counts an access of `hash` for TinyLFU and the window's tuner.
  void note_access(uint64_t hash);
  void count_miss(uint64_t hash);
  /// Restores the bounds after an insert (or a resize).
  void enforce_bounds();
  /// The entry W-TinyLFU or LRU would evict next, or null.
  node* coldest() const;
  void evict_from_window();
  void evict_from_main(size_t candidates);
  /// Whether W-TinyLFU's main region takes `candidate` in place of `victim`.
  bool admit(uint64_t candidate, uint64_t victim);
  /// Sets the window to `share` of the capacity.
  void adopt_window(double share);
  void set_window_size(uint64_t n);
  void demote_protected_overflow();
  queued enqueue(uint64_t hash, uint64_t bytes);

  /// The owner lock: held for every call of the owner's side, by the shard
  /// actor or by a writer that drains in place (owner_drain.cpp).
  mutable std::mutex owner_mtx_;
  /// Whether an owner runs (writers drain in place only then); under
  /// `owner_mtx_`. A store without a shard is its user's: true.
  bool owner_running_ = true;
  const store_config initial_;
  store_config cfg_;
  rcu_table table_;
  uint64_t drains_ = 0; // owner only
  read_buffer reads_;
  bool claim_drain_request();

  /// The write queue's lock: every put takes it for a push_back. The
  /// table's lock (segment_lock.hpp), which spins before it sleeps, not a
  /// `std::mutex`, which sleeps at once: four writers on two cores found
  /// the mutex taken often enough that its futex wake and the waiter's
  /// sleep were a quarter of a put's samples, for a hold of tens of
  /// nanoseconds (`p21 bench --only cache_contended`, 4
  /// alternating pairs: 4 threads 270-282 -> 238-265 ns an operation, 8
  /// threads 267-291 -> 240-263).
  mutable segment_lock writes_mtx_;
  /// The queued writes: each one's key hash. The owner applies a record to
  /// every node of that hash: the written key's node, and another key's
  /// only if their 64-bit hashes are equal (among a million keys, odds of
  /// about 1 in 37 million that any pair is), which the policy then takes
  /// for written too (a touch, or a link a moment early). A hash takes no allocation under the lock
  /// and spares the owner hashing the key again.
  std::vector<uint64_t> writes_;
  /// Set by `keep_draining`; changed under writes_mtx_, read by readers
  /// without it.
  std::atomic<bool> ticking_{false};
  uint64_t pending_bytes_ = 0;      // under writes_mtx_
  uint64_t peak_pending_bytes_ = 0; // under writes_mtx_
  std::vector<uint64_t> draining_; // owner only
  // The owner's scratch for applying reads, kept so that drains do not
  // allocate: a batch of recorded hashes, its indices grouped by segment,
  // and what each record found.
  static constexpr size_t read_batch_limit = read_buffer::slots;
  enum class read_state : uint8_t { absent, live, expired, slot };
  struct found_read {
    node* n = nullptr;
    read_state state = read_state::absent;
  };
  std::vector<uint64_t> read_batch_;
  std::vector<uint32_t> by_segment_;
  std::vector<found_read> found_;
  std::vector<node*> expired_;
  // Read by writers: the default TTL and the byte capacity.
  std::atomic<int64_t> ttl_ns_{0};
  std::atomic<uint64_t> max_bytes_{0};
  std::atomic<uint64_t> bypasses_{0};
  std::atomic<bool> drain_requested_{false};
  std::atomic<size_t> write_limit_{16};
  std::atomic<uint64_t> write_byte_limit_{1};

  std::vector<policy_link> links_;
  std::vector<uint32_t> free_slots_;
  order window_;
  order probation_;
  order protected_;
  size_t linked_ = 0;
  uint64_t bytes_ = 0;
  /// A copy of `bytes_` other threads may read; the owner alone writes it
  /// (a plain store, no read-modify-write).
  std::atomic<uint64_t> held_bytes_{0};
  cache_stats stats_;
  /// Hashes of keys recently evicted for capacity, oldest first, with the
  /// eviction's sequence number; the map has each hash's latest eviction.
  /// Twice as long as the cache: the miss-ratio curve reaches 3x its size.
  std::deque<std::pair<uint64_t, uint64_t>> ghosts_;
  ghost_index ghost_set_;
  uint64_t eviction_seq_ = 0;

  // -- W-TinyLFU --
  frequency_sketch sketch_;
  uint64_t window_max_ = 0;
  uint64_t protected_max_ = 0;
  /// Chooses the window's size (see window_tuner.hpp).
  window_tuner tuner_;
  /// Fixed seed: a replay gives the same hit rate every time.
  std::minstd_rand admission_rng_{1};
};

} // namespace p21::cache_detail
