#pragma once

// A sensor: what a rule reads from the node's metrics, as a typed selector
// (a family, label matchers and a statistic) rather than a name compared
// as a string. Written in a config file as
//
//   myapp_jobs_running                          the value: a gauge, or a counter's total
//   myapp_queue_wait_seconds{quantile="0.95"}   a histogram's quantile (0.5, 0.95, 0.99)
//                                               over the last interval
//   rate(myapp_jobs_total)                      a counter's increase per second
//   mean(myapp_job_seconds{pool="a"})           a histogram's mean over the last interval
//   ratio(cache_hits{cache="r"} / cache_requests{cache="r"})
//                                               the ratio of two counters' increases
//
// Label matchers select the series that have every one of them; a counter's
// or gauge's matching series are summed. A family is named as its
// `metric_def` declares it (the exported spelling, `p21_..._total`, is
// accepted too).

#include <map>
#include <string>
#include <vector>

namespace p21 {

/// Label matchers: a series matches when it has every one of them.
using metric_labels = std::map<std::string, std::string>;

/// What a sensor computes from its family's matching series.
enum class sensor_statistic {
  /// A gauge's value, or a counter's total.
  value,
  /// A counter's increase per second since the previous evaluation.
  rate,
  /// A histogram's quantile (`quantile` = 0.5, 0.95, 0.99) of the samples
  /// since the previous evaluation, from its buckets; since it started at
  /// the first evaluation. No samples in the interval: no value.
  quantile,
  /// A histogram's mean over the last interval (sum and count increases).
  mean,
  /// One counter's increase over another's (`denominator`), last interval.
  ratio,
};

struct sensor {
  sensor_statistic statistic = sensor_statistic::value;
  std::string family;
  metric_labels labels;
  /// `quantile` only.
  double quantile = 0;
  /// `ratio` only: the denominator's family and labels.
  std::string denominator;
  metric_labels denominator_labels;

  static sensor value_of(std::string family, metric_labels labels = {});
  static sensor rate_of(std::string family, metric_labels labels = {});
  static sensor quantile_of(std::string family, double q, metric_labels labels = {});
  static sensor mean_of(std::string family, metric_labels labels = {});
  static sensor ratio_of(std::string family, metric_labels labels, std::string denominator,
                         metric_labels denominator_labels = {});

  friend bool operator==(const sensor& a, const sensor& b);
  friend bool operator!=(const sensor& a, const sensor& b) { return !(a == b); }
};

/// Reads the text form above. Throws `std::invalid_argument` saying what
/// is wrong and where (a character offset) for anything else.
sensor parse_sensor(const std::string& text);

/// The text form (`parse_sensor(to_string(s)) == s`).
std::string to_string(const sensor& s);

/// The family a metric name names, however it is spelled: a `metric_def`'s
/// name (`cache_hits`) or an exported series' (`p21_cache_hits_total`,
/// `p21_db_query_seconds_count`): without the `p21_` prefix and a `_total`,
/// `_count`, `_sum` or `_bucket` suffix. The optimizer matches what an alert
/// watches to what its rules' sensors read by it.
inline std::string metric_family_key(const std::string& name) {
  std::string out = name.rfind("p21_", 0) == 0 ? name.substr(4) : name;
  for (std::string suffix : {"_total", "_count", "_sum", "_bucket"})
    if (out.size() > suffix.size() &&
        out.compare(out.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.resize(out.size() - suffix.size());
      break;
    }
  return out;
}

} // namespace p21
