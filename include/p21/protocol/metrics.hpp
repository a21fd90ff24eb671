#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/message.hpp>
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

/// How Prometheus types a metric.
enum class metric_kind : uint8_t { counter, gauge, histogram };

/// One metric's declaration: its name on `/metrics` without the `p21_`
/// prefix (counters also without `_total`), its help line, kind and unit.
/// Each is declared once, next to the protocol that reports it, so that
/// emitters, the exporter and readers share one spelling the compiler checks.
struct metric_def {
  const char* name;
  const char* help;
  metric_kind kind;
  /// `seconds`, `bytes`, `ratio`, or empty for a plain count.
  const char* unit = "";
  /// At most this many label sets (series) in a registry, 0 for the
  /// registry's default (`metrics_registry::default_series_limit`); the
  /// rest fold into an overflow series (see `metrics_registry`).
  uint32_t series_limit = 0;
  /// The label whose value a label set past the limit takes as `other`
  /// (its other labels kept), or empty: every value becomes `other`.
  const char* overflow_label = "";

  /// A sample of this metric.
  metric_sample operator()(double value, std::map<std::string, std::string> labels = {}) const {
    return {name, std::move(labels), value};
  }

  /// Whether `sample_name` is this metric's name.
  bool names(const std::string& sample_name) const { return sample_name == name; }
};

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
/// histograms, named as they appear on `/metrics` without the `p21_` prefix,
/// and the typed stats they were rendered from.
struct metric_set {
  std::vector<metric_sample> counters;
  std::vector<metric_sample> gauges;
  std::vector<histogram_summary> histograms;
  /// Typed stats (`cache_stats`, `db_pool_stats`, `subprocess_stats`) of the
  /// same instant, one message each: a subsystem files its own under "", the
  /// monitor re-files them under the component's name. Readers such as the
  /// optimizer dispatch on the type (`match_elements<db_pool_stats>()`), never
  /// on metric names.
  std::map<std::string, caf::message> stats;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_set& x) {
  return f(caf::meta::type_name("p21.metric_set"), x.counters, x.gauges, x.histograms, x.stats);
}

} // namespace p21
