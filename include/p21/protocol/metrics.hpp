#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace p21 {

/// One counter or gauge value with its labels.
struct metric_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_sample& x) {
  return f(caf::meta::type_name("p21.metric_sample"), x.name, x.labels, x.value);
}

/// A latency or size distribution, summarized. Units: seconds or bytes.
struct histogram_summary {
  std::string name;
  std::map<std::string, std::string> labels;
  uint64_t count = 0;
  double sum = 0;
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
  /// Prometheus buckets: upper bounds (same unit) and how many samples were
  /// at or below each (cumulative); `count` is the `+Inf` bucket.
  std::vector<double> bounds;
  std::vector<uint64_t> cumulative;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, histogram_summary& x) {
  return f(caf::meta::type_name("p21.histogram_summary"), x.name, x.labels, x.count, x.sum, x.p50,
           x.p95, x.p99, x.max, x.bounds, x.cumulative);
}

/// What every subsystem answers to `metrics_atom`: its counters, gauges and
/// histograms, named as they appear on `/metrics` without the `p21_` prefix.
struct metric_set {
  std::vector<metric_sample> counters;
  std::vector<metric_sample> gauges;
  std::vector<histogram_summary> histograms;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_set& x) {
  return f(caf::meta::type_name("p21.metric_set"), x.counters, x.gauges, x.histograms);
}

} // namespace p21
