// One shard's table (any thread) and what its owner does with the
// recorded reads and writes; the eviction order and the window's sizing are
// in eviction.cpp.

#include "cache_store.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include <time.h>

namespace p21::cache_detail {

// -- the table ----------------------------------------------------------------

size_t entry_overhead() {
  return cache_store::node_overhead();
}

void cache_store::push_front(order& l, node* n) {
  auto s = slot_of(n);
  auto& link = links_[s];
  link.prev = no_slot;
  link.next = l.head;
  if (l.head != no_slot)
    links_[l.head].prev = s;
  else
    l.tail = s;
  l.head = s;
  ++l.size;
}

void cache_store::unlink(order& l, node* n) {
  auto& link = links_[slot_of(n)];
  (link.prev != no_slot ? links_[link.prev].next : l.head) = link.next;
  (link.next != no_slot ? links_[link.next].prev : l.tail) = link.prev;
  link.prev = link.next = no_slot;
  --l.size;
}

void cache_store::take_slot(node* n) {
  uint32_t s = 0;
  if (free_slots_.empty()) {
    s = static_cast<uint32_t>(links_.size());
    // Room for the capacity at once (up to 65 536 slots, 1.5 MiB, most of
    // it untouched pages until used): a filling cache otherwise copied the
    // array at every doubling, a fourteenth of a put's samples while
    // `cache_contended` filled 25 000 entries.
    if (links_.size() == links_.capacity()) {
      constexpr uint64_t max_reserve = 65'536;
      auto expected = std::min<uint64_t>(cfg_.max_entries + write_limit(), max_reserve);
      links_.reserve(std::max<size_t>(2 * links_.size(), static_cast<size_t>(expected)));
    }
    links_.emplace_back();
  } else {
    s = free_slots_.back();
    free_slots_.pop_back();
  }
  links_[s] = policy_link{n, no_slot, no_slot, window};
  n->slot.store(s, std::memory_order_relaxed);
}

void cache_store::free_slot(node* n) {
  auto s = slot_of(n);
  links_[s] = policy_link{};
  free_slots_.push_back(s);
}

void cache_store::unlink_entry(node* n) {
  unlink(list_of(where_of(n)), n);
  free_slot(n);
  --linked_;
  bytes_ -= n->accounted;
  held_bytes_.store(bytes_, std::memory_order_relaxed);
}

void cache_store::forget_policy() {
  window_ = {};
  probation_ = {};
  protected_ = {};
  // Given back, not kept: a cleared cache may stay small.
  std::vector<policy_link>{}.swap(links_);
  std::vector<uint32_t>{}.swap(free_slots_);
  linked_ = 0;
  bytes_ = 0;
  held_bytes_.store(bytes_, std::memory_order_relaxed);
}

// -- cache_store: any thread --------------------------------------------------

cache_store::cache_store(store_config cfg)
  : initial_(cfg)
  , cfg_(std::move(cfg)) {
  stats_.name = cfg_.name;
  ttl_ns_.store(cfg_.ttl.count());
  static_cast<void>(resize_owned(cfg_.max_entries, cfg_.max_bytes));
}

cache_store::~cache_store() = default;

time_point cache_store::expiry(timespan ttl, time_point now) const {
  if (ttl.count() == 0)
    ttl = timespan{ttl_ns_.load(std::memory_order_relaxed)};
  return ttl.count() > 0 ? now + std::chrono::duration_cast<clock::duration>(ttl)
                         : time_point::max();
}

caf::error cache_store::check_charge(uint64_t charge) const {
  auto max = max_bytes_.load(std::memory_order_relaxed);
  if (charge > max)
    return make_error(errc::invalid_argument, "an entry of " + std::to_string(charge) +
                                                  " bytes exceeds the capacity of " + cfg_.name +
                                                  " (" + std::to_string(max) + " bytes)");
  return caf::none;
}

// -- cache_store: the owner ---------------------------------------------------

cache_store::order& cache_store::list_of(region r) {
  switch (r) {
  case window:
    return window_;
  case probation:
    return probation_;
  default:
    return protected_;
  }
}

void cache_store::link(node* n) {
  // Under the segment's lock (apply_write): `linked` is read by writers.
  n->linked = true;
  take_slot(n);
  push_front(window_, n);
  ++linked_;
  n->accounted = n->charge;
  bytes_ += n->accounted;
  held_bytes_.store(bytes_, std::memory_order_relaxed);
}

void cache_store::destroy(node* n) {
  if (n->linked)
    unlink_entry(n);
  auto w = table_.write(n->hash);
  w.unchain(n);
  w.retire(n);
}

size_t cache_store::drain_owned() {
  drain_requested_.store(false, std::memory_order_release);
  auto now = clock::now();
  // Writes first, reads second, evictions last: a key written since the
  // last drain and read since is linked before its reads are applied, so
  // they count for it (in the window) instead of it meeting TinyLFU's
  // admission unread.
  {
    // Swapped with a vector kept for the purpose, so neither side
    // allocates again once both have grown.
    std::lock_guard<segment_lock> guard{writes_mtx_};
    draining_.swap(writes_);
    pending_bytes_ = 0; // the owner accounts them now
  }
  auto applied = draining_.size();
  for (auto hash : draining_)
    apply_write(hash);
  draining_.clear();
  size_t reads = 0;
  reads_.drain([&](uint64_t hash) {
    ++reads;
    read_batch_.push_back(hash);
    if (read_batch_.size() == read_batch_limit)
      apply_reads(now);
  });
  apply_reads(now);
  enforce_bounds();
  // What writers retired waits for a full batch (table.cpp); now and then
  // the owner hands over the rest, so that a quiet cache frees it too.
  if (++drains_ % 64 == 0)
    table_.flush_retired();
  return applied + reads;
}

void cache_store::apply_write(uint64_t hash) {
  bool inserted = false;
  {
    // Every node of the hash: the record names no key (see `writes_`).
    auto w = table_.write(hash);
    w.for_each_of(hash, [&](node* n) {
      if (n->value.load(std::memory_order_relaxed) == nullptr) {
        w.unchain(n);
        unlink_entry(n);
        w.retire(n);
      } else if (!n->linked) {
        link(n);
        inserted = true;
      } else {
        bytes_ += n->charge - n->accounted;
        held_bytes_.store(bytes_, std::memory_order_relaxed);
        n->accounted = n->charge;
        touch(n);
      }
    });
  }
  // A key inserted again after its eviction: the miss before this write
  // (whose read record may have been dropped, or applied after the write
  // made the key live) was a ghost hit.
  if (inserted)
    count_miss(hash);
}

void cache_store::apply_reads(time_point now) {
  auto& batch = read_batch_;
  if (batch.empty())
    return;
  // Looked up one segment at a time, in one RCU read section per segment
  // and batch. (Grouping by segment once spared a shared lock per record,
  // whose cache line the owner and the readers fought over; the table's
  // reads take no lock now, and the grouping keeps each segment's buckets
  // warm.)
  std::array<uint32_t, segment_count + 1> first{};
  for (auto record : batch)
    if (!names_slot(record))
      ++first[segment_index(record) + 1];
  for (size_t s = 0; s < segment_count; ++s)
    first[s + 1] += first[s];
  auto next = first;
  by_segment_.resize(batch.size());
  found_.assign(batch.size(), found_read{});
  for (uint32_t i = 0; i < batch.size(); ++i) {
    if (!names_slot(batch[i])) {
      by_segment_[next[segment_index(batch[i])]++] = i;
    } else if (auto s = batch[i] & ~slot_record; s < links_.size() && links_[s].n != nullptr) {
      // A slot freed since is skipped; one taken again since counts for its
      // new entry, as rare as a dropped record and as harmless.
      found_[i] = {links_[s].n, read_state::slot};
    }
  }
  for (size_t s = 0; s < segment_count; ++s) {
    if (first[s] == first[s + 1])
      continue;
    read_guard guard;
    for (auto k = first[s]; k < first[s + 1]; ++k) {
      auto i = by_segment_[k];
      auto* n = table_.find_hash(batch[i]);
      auto* v = n != nullptr ? n->value.load(std::memory_order_acquire) : nullptr;
      if (v != nullptr && n->linked)
        found_[i] = {n, v->expires() > now ? read_state::live : read_state::expired};
    }
  }
  // Applied in the order the reads were recorded. Only the owner frees
  // linked nodes, so the pointers stay valid until the expired ones are
  // destroyed below (once each, a key read twice appears twice).
  expired_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    // The sketch and the window's tuner learn from every recorded read (a
    // dropped record is a request neither sees).
    auto& found = found_[i];
    if (names_slot(batch[i])) {
      if (found.state == read_state::slot) {
        note_access(found.n->hash);
        touch(found.n);
      }
      continue;
    }
    note_access(batch[i]);
    switch (found.state) {
    case read_state::live:
      touch(found.n);
      break;
    case read_state::expired:
      expired_.push_back(found.n);
      break;
    case read_state::absent:
    case read_state::slot:
      count_miss(batch[i]);
      break;
    }
  }
  std::sort(expired_.begin(), expired_.end());
  expired_.erase(std::unique(expired_.begin(), expired_.end()), expired_.end());
  for (auto* n : expired_) {
    ++stats_.expirations;
    destroy(n);
  }
  batch.clear();
}

void cache_store::note_access(uint64_t hash) {
  if (cfg_.policy != eviction::tinylfu)
    return;
  sketch_.increment(hash);
  if (tuner_.record(hash))
    adopt_window(tuner_.best_share());
}

void cache_store::count_miss(uint64_t hash) {
  if (ghost_set_.empty())
    return;
  if (auto* g = ghost_set_.find(hash)) {
    // Evicted `extra - 1` evictions ago: an LRU larger by `extra` entries
    // would still hold it. Within the cache's own size it is a capacity miss.
    auto extra = eviction_seq_ - g->seq + 1;
    if (extra <= cfg_.max_entries)
      ++stats_.capacity_misses;
    auto bucket = ghost_depth_bucket(extra);
    auto& depths = stats_.ghost_hit_depths;
    if (depths.size() <= bucket)
      depths.resize(bucket + 1);
    ++depths[bucket];
    ghost_set_.erase(g); // counted once; its deque slot ages out
  }
}

std::optional<std::string> cache_store::get(const std::string& key, time_point now) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  auto hash = key_hash(key);
  std::optional<std::string> out;
  node* n = nullptr;
  bool linked = false;
  bool expired = false;
  {
    read_guard guard;
    n = table_.find(key, hash);
    auto* v = n != nullptr ? n->value.load(std::memory_order_acquire) : nullptr;
    if (v != nullptr) {
      // Unlinked: a thread's write the owner has not drained yet; visible
      // all the same, and only the owner frees linked nodes.
      linked = n->linked;
      if (v->expires() > now)
        out.emplace(v->view());
      else
        expired = linked;
    }
  }
  note_access(hash);
  if (expired) {
    ++stats_.expirations;
    destroy(n);
  }
  if (out) {
    ++stats_.hits;
    if (linked)
      touch(n);
  } else {
    ++stats_.misses;
    count_miss(hash);
  }
  return out;
}

bool cache_store::contains(const std::string& key, time_point now) const {
  auto hash = key_hash(key);
  read_guard guard;
  auto* n = table_.find(key, hash);
  auto* v = n != nullptr ? n->value.load(std::memory_order_acquire) : nullptr;
  return v != nullptr && v->expires() > now;
}

void cache_store::touch(node* n) {
  auto& where = where_of(n);
  if (cfg_.policy == eviction::lru || where != probation) {
    auto& l = list_of(where);
    if (l.head == slot_of(n))
      return;
    unlink(l, n);
    push_front(l, n);
    return;
  }
  // A second hit in probation promotes to protected; protected overflow
  // demotes its coldest back to probation.
  unlink(probation_, n);
  push_front(protected_, n);
  where = protected_main;
  demote_protected_overflow();
}

void cache_store::demote_protected_overflow() {
  while (protected_.size > protected_max_ && protected_.tail != no_slot) {
    auto* demoted = tail_of(protected_);
    unlink(protected_, demoted);
    push_front(probation_, demoted);
    where_of(demoted) = probation;
  }
}

caf::error cache_store::put(const std::string& key, std::string value, timespan ttl,
                            time_point now) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  auto q = write(key, key_hash(key), std::move(value), ttl, now);
  if (!q)
    return q.error();
  drain_owned();
  return caf::none;
}

void cache_store::evict(node* n) {
  ++stats_.evictions;
  ++eviction_seq_;
  ghosts_.emplace_back(n->hash, eviction_seq_);
  ghost_set_.set(n->hash, eviction_seq_);
  while (ghosts_.size() > 2 * cfg_.max_entries) {
    auto [hash, seq] = ghosts_.front();
    if (auto* g = ghost_set_.find(hash); g != nullptr && g->seq == seq)
      ghost_set_.erase(g);
    ghosts_.pop_front();
  }
  destroy(n);
}

bool cache_store::erase(const std::string& key) {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  auto hash = key_hash(key);
  auto w = table_.write(hash);
  auto* n = w.find(key, hash);
  if (n == nullptr || n->value.load(std::memory_order_relaxed) == nullptr)
    return false;
  w.unchain(n);
  if (n->linked)
    unlink_entry(n);
  w.retire(n);
  return true;
}

uint64_t cache_store::clear() {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  return clear_owned();
}

uint64_t cache_store::clear_owned() {
  uint64_t removed = 0;
  table_.clear([&](node* n) {
    removed += n->value.load(std::memory_order_relaxed) != nullptr ? 1 : 0;
  });
  forget_policy();
  {
    // Cleared as a stopped owner leaves it: the next write asks for a drain.
    std::lock_guard<segment_lock> guard{writes_mtx_};
    ticking_.store(false, std::memory_order_relaxed);
  }
  return removed;
}

void cache_store::reset() {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  // The previous owner's entries go; writes made since it stopped stay and
  // are linked by the next drain (their queued records are kept).
  for (size_t s = 0; s < segment_count; ++s) {
    auto w = table_.write_segment(s);
    w.for_each([&w](node* n) {
      if (n->linked) {
        w.unchain(n);
        w.retire(n);
      }
    });
  }
  table_.flush_retired();
  forget_policy();
  reads_.drain([](uint64_t) {});
  reads_.reset_counts();
  drain_requested_.store(false);
  {
    std::lock_guard<segment_lock> guard{writes_mtx_};
    ticking_.store(false, std::memory_order_relaxed);
  }
  // Queued writes stay: they are the writes made since the last owner
  // stopped.
  cfg_ = initial_;
  ttl_ns_.store(cfg_.ttl.count());
  stats_ = cache_stats{};
  stats_.name = cfg_.name;
  ghosts_.clear();
  ghost_set_.clear();
  window_max_ = 0;
  static_cast<void>(resize_owned(cfg_.max_entries, cfg_.max_bytes));
}

cache_stats cache_store::stats() const {
  std::lock_guard<std::mutex> owner{owner_mtx_};
  auto s = stats_;
  auto counted = reads_.counts();
  s.hits += counted.hits;
  s.misses += counted.misses;
  s.puts += counted.puts;
  s.entries = linked_;
  s.bytes = bytes_;
  s.max_entries = cfg_.max_entries;
  s.max_bytes = cfg_.max_bytes;
  s.bypasses = bypasses_.load(std::memory_order_relaxed);
  return s;
}

} // namespace p21::cache_detail
