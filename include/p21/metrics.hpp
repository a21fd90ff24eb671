#pragma once

// The metrics core: counters, gauges and histograms with labels, registered
// by name; recording is a relaxed atomic operation (no lock); collection
// yields a `metric_set`, and `render_prometheus` writes the text format
// 0.0.4 that Prometheus scrapes.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "p21/histogram.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

using metric_labels = std::map<std::string, std::string>;

/// A monotonically increasing count.
class counter {
public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(double x) noexcept { value_.store(x, std::memory_order_relaxed); }
  void add(double x) noexcept {
    auto cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + x, std::memory_order_relaxed))
      ; // retry
  }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// Named metrics of one process or component. Registering takes a lock and
/// returns a reference that stays valid as long as the registry; recording
/// through it never locks. Registering the same name and labels again
/// returns the same metric.
///
/// A family (one name) holds at most its `series_limit` label sets: labels
/// may come from input (a message's type), and each series costs memory
/// and scrape time for good. Past the limit a new label set folds into an
/// overflow series: the same labels with the family's `overflow_label` set
/// to `other` when that series exists already, else every value `other`
/// (`{component="other",type="other"}`), so a family never holds more than
/// its limit plus one.
class metrics_registry {
public:
  /// The limit of a family whose declaration names none.
  static constexpr size_t default_series_limit = 256;

  /// The value of an overflow series' labels.
  static constexpr const char* overflow_value = "other";

  counter& make_counter(const std::string& name, const std::string& help,
                        const metric_labels& labels = {});
  gauge& make_gauge(const std::string& name, const std::string& help,
                    const metric_labels& labels = {});
  /// `scale` converts recorded values to the exported unit (1e-9: ns to s).
  histogram& make_histogram(const std::string& name, const std::string& help,
                            const metric_labels& labels = {}, double scale = 1e-9);

  /// The same for a declared metric (name, help, series limit and roles
  /// from `def`; `collect` reports the roles with each sample).
  counter& make_counter(const metric_def& def, const metric_labels& labels = {});
  gauge& make_gauge(const metric_def& def, const metric_labels& labels = {});
  histogram& make_histogram(const metric_def& def, const metric_labels& labels = {},
                            double scale = 1e-9);

  /// Every metric's current value.
  metric_set collect() const;

  /// Help texts by metric name.
  std::map<std::string, std::string> help() const;

  /// How many series the family `name` holds (of any kind).
  size_t series_count(const std::string& name) const;

private:
  struct family_bounds {
    size_t limit = default_series_limit;
    std::string overflow_label;
    /// Not a bound: the family's roles, carried along with its declaration.
    metric_roles roles = 0;
  };

  static family_bounds bounds_of(const metric_def& def);

  template <class T>
  struct entry {
    std::string name;
    metric_labels labels;
    double scale = 1;
    std::unique_ptr<T> metric;
    metric_roles roles = 0;
  };

  /// One kind's metrics in registration order (what `collect` reports),
  /// and each family's series by their labels for the lookup.
  template <class T>
  struct store {
    std::deque<entry<T>> entries;
    std::unordered_map<std::string, std::unordered_map<std::string, T*>> families;
  };

  template <class T>
  T& find_or_add(store<T>& xs, const std::string& name, const std::string& help,
                 const metric_labels& labels, double scale, const family_bounds& bounds);

  mutable std::mutex mtx_;
  store<counter> counters_;
  store<gauge> gauges_;
  store<histogram> histograms_;
  std::map<std::string, std::string> help_;
  std::set<std::string> folding_; // families past their limit (warned once)
};

/// Whether `name` is a valid metric or label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
bool valid_metric_name(const std::string& name);

/// The Prometheus text format (0.0.4) of `sets`: every name prefixed `p21_`,
/// counters suffixed `_total`, histograms as `_bucket`/`_sum`/`_count`,
/// samples of one family together under its HELP and TYPE lines. `help`
/// gives help texts by unprefixed name; others get a generic one.
std::string render_prometheus(const std::vector<metric_set>& sets,
                              const std::map<std::string, std::string>& help = {});

/// The standard process collector's values (Prometheus client libraries'
/// `process_*` series), read from /proc at scrape time.
struct process_reading {
  double cpu_seconds = 0;
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};

/// Reads this process's `process_reading` (`proc_root`: normally /proc).
process_reading read_process(const std::string& proc_root = "/proc");

/// The six `process_*` families in the text format, unprefixed, as every
/// other exporter names them.
std::string render_process_metrics(const process_reading& r);

/// The OpenMetrics 1.0 text of a Prometheus text exposition: counter
/// families named without `_total`, and the closing `# EOF`.
std::string to_openmetrics(const std::string& prometheus_text);

/// Whether an `Accept` header asks for OpenMetrics (with a weight above 0).
bool wants_openmetrics(const std::string& accept);

} // namespace p21
