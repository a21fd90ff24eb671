#pragma once

// A log-linear histogram in the spirit of HdrHistogram: 64 linear
// sub-buckets per power of two (relative error under 1.6 %, about two
// significant digits), fixed memory (3 776 counters), lock-free recording
// from any thread, percentiles, and merging across shards.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "p21/protocol/metrics.hpp"

namespace p21 {

class histogram {
public:
  static constexpr size_t bucket_count = 3776;

  histogram() = default;
  histogram(const histogram& other);
  histogram& operator=(const histogram& other);

  // -- recording (thread-safe, no lock) --------------------------------------------

  /// Records one value (nanoseconds, bytes, ...).
  void record(uint64_t value) noexcept;

  // -- reading ----------------------------------------------------------------------

  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }

  /// The value at quantile `q` (0..1), within the bucket's relative error.
  uint64_t quantile(double q) const noexcept;

  /// Adds `other`'s samples to this one.
  void merge(const histogram& other) noexcept;

  /// Percentiles and Prometheus buckets as a protocol summary; `scale`
  /// converts the recorded unit (e.g. 1e-9 for nanoseconds to seconds).
  /// Bucket bounds are 1, 2.5, 5 times powers of ten over the range that
  /// `scale` implies (1 us to 100 s for seconds, 64 B to 1 GiB for bytes).
  histogram_summary summary(std::string name, double scale = 1.0) const;

  /// The same for a declared metric: its name and roles.
  histogram_summary summary(const metric_def& def, double scale = 1.0) const {
    auto s = summary(std::string{def.name}, scale);
    s.roles = def.roles;
    return s;
  }

  // -- bucket arithmetic (exposed for tests) ---------------------------------------

  static size_t bucket_of(uint64_t value) noexcept;
  /// The midpoint of a bucket's value range.
  static uint64_t value_of(size_t bucket) noexcept;

private:
  std::array<std::atomic<uint64_t>, bucket_count> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
};

/// The `q` quantile of the samples a cumulative histogram summary gained
/// between `before` and `now` (its Prometheus buckets, linear within a
/// bucket; past the last bound, the largest sample); none without samples.
std::optional<double> window_quantile(const histogram_summary& now, const histogram_summary& before,
                                      double q);

} // namespace p21
