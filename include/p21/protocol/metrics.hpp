#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

namespace p21 {

/// What a metric counts toward in the monitor's health targets, declared
/// with the metric (`metric_def::with`), so that a custom actor's metrics
/// count as the subsystems' do: the growth of `request` and `error`
/// counters makes `error_rate`, `hit` and `miss` counters `cache_hit_rate`,
/// `latency` histograms `p95_seconds`. `wait` marks time spent queued (for
/// readers; no target uses it yet).
enum class metric_role : uint8_t {
  request = 1,
  error = 2,
  latency = 4,
  hit = 8,
  miss = 16,
  wait = 32,
};

/// A set of roles: a metric may have several (a refused command is a
/// request and an error).
using metric_roles = uint8_t;

constexpr metric_roles operator|(metric_role x, metric_role y) {
  return static_cast<metric_roles>(static_cast<uint8_t>(x) | static_cast<uint8_t>(y));
}

constexpr metric_roles operator|(metric_roles x, metric_role y) {
  return static_cast<metric_roles>(x | static_cast<uint8_t>(y));
}

/// Whether `roles` has `role`.
constexpr bool has_role(metric_roles roles, metric_role role) {
  return (roles & static_cast<uint8_t>(role)) != 0;
}

/// One counter or gauge value with its labels (and its metric's roles).
struct metric_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  metric_roles roles = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_sample& x) {
  return f(caf::meta::type_name("p21.metric_sample"), x.name, x.labels, x.value, x.roles);
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
  /// What it counts toward in the monitor's targets (`metric_role`).
  metric_roles roles = 0;

  /// The same declaration with `r` among its roles:
  /// `metric_def{"myapp_requests", "...", metric_kind::counter}.with(metric_role::request)`.
  constexpr metric_def with(metric_role r) const {
    auto d = *this;
    d.roles = d.roles | r;
    return d;
  }

  /// A sample of this metric.
  metric_sample operator()(double value, std::map<std::string, std::string> labels = {}) const {
    return {name, std::move(labels), value, roles};
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
  /// Its metric's roles (`metric_role::latency`: counts toward p95).
  metric_roles roles = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, histogram_summary& x) {
  return f(caf::meta::type_name("p21.histogram_summary"), x.name, x.labels, x.count, x.sum, x.p50,
           x.p95, x.p99, x.max, x.bounds, x.cumulative, x.roles);
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
