#pragma once

// The owner's index of recently evicted keys (the "ghosts" behind the
// capacity misses and the miss-ratio curve): key hash -> the eviction's
// sequence number, in one flat array.
//
// Why not `std::unordered_map<uint64_t, uint64_t>`: every eviction inserted
// a node (a malloc) and aged one out (a free), and every miss looked a hash
// up through a modulo by a prime; under `cache_contended` (4 threads, a
// quarter of the operations write) that map was a quarter of the owner's
// drain (5 % of all samples). Here an insert or erase writes a slot of an
// open-addressed table (linear probing, at most half full, backward-shift
// deletion) and allocates only when the table doubles.

#include <cstdint>
#include <vector>

namespace p21::cache_detail {

class ghost_index {
public:
  struct slot {
    uint64_t key = 0; // 0: empty
    uint64_t seq = 0;
  };

  bool empty() const noexcept { return size_ == 0; }
  size_t size() const noexcept { return size_; }

  /// The slot of `hash` (its `seq`: the latest eviction), or null.
  slot* find(uint64_t hash) noexcept {
    if (size_ == 0)
      return nullptr;
    auto key = key_of(hash);
    for (auto i = home(key);; i = (i + 1) & mask_) {
      auto& s = slots_[i];
      if (s.key == key)
        return &s;
      if (s.key == 0)
        return nullptr;
    }
  }

  /// Records `hash`'s eviction `seq` (replacing an older one).
  void set(uint64_t hash, uint64_t seq) {
    if (2 * (size_ + 1) > slots_.size())
      grow();
    auto key = key_of(hash);
    for (auto i = home(key);; i = (i + 1) & mask_) {
      auto& s = slots_[i];
      if (s.key == key) {
        s.seq = seq;
        return;
      }
      if (s.key == 0) {
        s = {key, seq};
        ++size_;
        return;
      }
    }
  }

  /// Forgets a slot `find` returned.
  void erase(slot* s) noexcept {
    auto i = static_cast<size_t>(s - slots_.data());
    // Backward shift: later entries of the run move up into the hole, so
    // that a lookup's probe never stops early at it.
    for (auto j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
      auto h = home(slots_[j].key);
      // Whether `h` lies cyclically in (i, j]: then the entry stays.
      bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {};
    --size_;
  }

  /// Forgets everything and gives the memory back.
  void clear() {
    std::vector<slot>{}.swap(slots_);
    size_ = 0;
    mask_ = 0;
    shift_ = 64;
  }

private:
  /// Hash 0 is stored as 1 (one key in 2^64 shares a ghost: harmless).
  static uint64_t key_of(uint64_t hash) noexcept { return hash == 0 ? 1 : hash; }
  /// Fibonacci hashing: the top bits of the product. A shard's keys share
  /// their hash's low bits (the shard is `hash % shards`), so those alone
  /// would crowd a few runs.
  size_t home(uint64_t key) const noexcept {
    return static_cast<size_t>((key * 0x9e37'79b9'7f4a'7c15ull) >> shift_);
  }

  void grow() {
    std::vector<slot> old;
    old.swap(slots_);
    size_t n = old.empty() ? 64 : 2 * old.size();
    slots_.assign(n, slot{});
    mask_ = n - 1;
    shift_ = 64;
    for (size_t m = n; m > 1; m >>= 1)
      --shift_;
    size_ = 0;
    for (auto& s : old)
      if (s.key != 0)
        for (auto i = home(s.key);; i = (i + 1) & mask_)
          if (slots_[i].key == 0) {
            slots_[i] = s;
            ++size_;
            break;
          }
  }

  std::vector<slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 64;
};

} // namespace p21::cache_detail
