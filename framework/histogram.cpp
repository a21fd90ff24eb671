#include "p21/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace p21 {

histogram::histogram(const histogram& other) {
  merge(other);
}

histogram& histogram::operator=(const histogram& other) {
  if (this != &other) {
    for (auto& b : buckets_)
      b.store(0, std::memory_order_relaxed);
    count_ = 0;
    sum_ = 0;
    max_ = 0;
    merge(other);
  }
  return *this;
}

size_t histogram::bucket_of(uint64_t v) noexcept {
  if (v < 128)
    return static_cast<size_t>(v);
  // Keep the top 7 bits: shift s puts v >> s into [64, 127].
  auto msb = 63 - __builtin_clzll(v);
  auto s = static_cast<unsigned>(msb - 6);
  return static_cast<size_t>(64 * s + (v >> s));
}

uint64_t histogram::value_of(size_t b) noexcept {
  if (b < 128)
    return b;
  auto s = static_cast<unsigned>(b / 64 - 1);
  auto lower = static_cast<uint64_t>(b - 64 * s) << s;
  return lower + ((uint64_t{1} << s) >> 1);
}

void histogram::record(uint64_t value) noexcept {
  buckets_[bucket_of(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  auto prev = max_.load(std::memory_order_relaxed);
  while (value > prev && !max_.compare_exchange_weak(prev, value, std::memory_order_relaxed)) {
    // prev reloaded by compare_exchange_weak
  }
}

uint64_t histogram::quantile(double q) const noexcept {
  uint64_t total = 0;
  for (auto& b : buckets_)
    total += b.load(std::memory_order_relaxed);
  if (total == 0)
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * double(total)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank)
      return std::min(value_of(i), max());
  }
  return max();
}

void histogram::merge(const histogram& other) noexcept {
  for (size_t i = 0; i < bucket_count; ++i)
    if (auto n = other.buckets_[i].load(std::memory_order_relaxed))
      buckets_[i].fetch_add(n, std::memory_order_relaxed);
  count_.fetch_add(other.count(), std::memory_order_relaxed);
  sum_.fetch_add(other.sum(), std::memory_order_relaxed);
  auto m = other.max();
  auto prev = max_.load(std::memory_order_relaxed);
  while (m > prev && !max_.compare_exchange_weak(prev, m, std::memory_order_relaxed)) {
  }
}

histogram_summary histogram::summary(std::string name, double scale) const {
  histogram_summary s;
  s.name = std::move(name);
  s.count = count();
  s.sum = double(sum()) * scale;
  s.p50 = double(quantile(0.50)) * scale;
  s.p95 = double(quantile(0.95)) * scale;
  s.p99 = double(quantile(0.99)) * scale;
  s.max = double(max()) * scale;
  // Bounds in the scaled unit: 1-2.5-5 steps from 1e-6 to 100 when the
  // unit is seconds, from 64 to 2^30 otherwise (bytes, counts).
  if (scale < 1.0) {
    for (double decade = 1e-6; decade < 1e3; decade *= 10)
      for (double m : {1.0, 2.5, 5.0})
        if (decade * m <= 100.0 + 1e-9)
          s.bounds.push_back(decade * m);
  } else {
    for (double b = 64; b <= double(1ull << 30); b *= 4)
      s.bounds.push_back(b);
  }
  s.cumulative.assign(s.bounds.size(), 0);
  size_t next = 0;
  uint64_t below = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    auto n = buckets_[i].load(std::memory_order_relaxed);
    if (n == 0)
      continue;
    auto v = double(value_of(i)) * scale;
    while (next < s.bounds.size() && v > s.bounds[next])
      s.cumulative[next++] = below;
    below += n;
  }
  while (next < s.bounds.size())
    s.cumulative[next++] = below;
  // Samples recorded while we read: keep `+Inf` (count) >= every bucket.
  s.count = std::max(s.count, below);
  return s;
}

std::optional<double> window_quantile(const histogram_summary& now, const histogram_summary& before,
                                      double q) {
  auto count = now.count > before.count ? double(now.count - before.count) : 0.0;
  if (count <= 0)
    return std::nullopt;
  auto rank = q * count;
  double lower = 0;
  uint64_t below = 0;
  for (size_t i = 0; i < now.bounds.size() && i < now.cumulative.size(); ++i) {
    auto was = i < before.cumulative.size() && before.bounds.size() == now.bounds.size()
                   ? before.cumulative[i]
                   : uint64_t{0};
    auto at = now.cumulative[i] > was ? now.cumulative[i] - was : uint64_t{0};
    if (double(at) >= rank) {
      auto in = at > below ? double(at - below) : 0.0;
      auto frac = in > 0 ? (rank - double(below)) / in : 1.0;
      return lower + (now.bounds[i] - lower) * std::clamp(frac, 0.0, 1.0);
    }
    below = at;
    lower = now.bounds[i];
  }
  return now.max > 0 ? now.max : lower;
}

} // namespace p21
