#pragma once

// Synthetic key streams for judging eviction policies: skewed (Zipf),
// scan-polluted, recency-heavy and looping. Used by the tests and by p21 bench, so
// both judge the policies on the same streams.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace p21::cache_detail {

/// `n` keys drawn from `universe` keys with Zipf exponent `s`.
inline std::vector<uint32_t> zipf(size_t n, uint32_t universe, double s, uint64_t seed) {
  std::vector<double> cdf(universe);
  double sum = 0;
  for (uint32_t i = 0; i < universe; ++i)
    cdf[i] = (sum += 1.0 / std::pow(i + 1, s));
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u{0, sum};
  std::vector<uint32_t> out(n);
  for (auto& k : out)
    k = static_cast<uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  return out;
}

/// Zipf 0.9 traffic interrupted by one-time scans of never-repeated keys.
inline std::vector<uint32_t> scan_polluted(size_t n, uint32_t universe, uint64_t seed) {
  auto base = zipf(n, universe, 0.9, seed);
  std::vector<uint32_t> out;
  out.reserve(n + n / 2);
  uint32_t next_scan_key = universe + 1;
  for (size_t i = 0; i < base.size(); ++i) {
    out.push_back(base[i]);
    if (i % 10'000 == 9'999)
      for (int j = 0; j < 5'000; ++j)
        out.push_back(next_scan_key++);
  }
  return out;
}

/// A working set of 2 000 keys that slides forward by one key every four
/// requests, from `first_key` on: the recently used keys are the ones used
/// again (where a fixed 1 % admission window loses to plain LRU).
inline std::vector<uint32_t> recency(size_t n, uint64_t seed, uint32_t first_key = 0) {
  std::mt19937_64 rng{seed};
  std::vector<uint32_t> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = first_key + static_cast<uint32_t>(i / 4 + rng() % 2'000);
  return out;
}

/// A workload that changes its nature twice: `n` requests of the sliding
/// working set, `2n` of Zipf 0.99 over 100 000 keys, `n` of another sliding
/// working set (disjoint keys in each phase).
inline std::vector<uint32_t> phases(size_t n, uint64_t seed) {
  auto out = recency(n, seed, 1'000'000);
  auto middle = zipf(2 * n, 100'000, 0.99, seed + 1);
  auto last = recency(n, seed + 2, 2'000'000);
  out.insert(out.end(), middle.begin(), middle.end());
  out.insert(out.end(), last.begin(), last.end());
  return out;
}

/// `n` requests cycling over `keys` keys in order: with more keys than
/// entries, LRU (and ARC) evict every key just before its next use.
inline std::vector<uint32_t> loop(size_t n, uint32_t keys) {
  std::vector<uint32_t> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<uint32_t>(i % keys);
  return out;
}

} // namespace p21::cache_detail
