// The metric lookups behind an application's rule's view.

#include "snapshot_view.hpp"

#include <algorithm>

#include "common.hpp"
#include "p21/protocol/monitor.hpp"

namespace p21 {

namespace {

bool has_labels(const std::map<std::string, std::string>& series, const metric_labels& want) {
  for (auto& [k, v] : want) {
    auto i = series.find(k);
    if (i == series.end() || i->second != v)
      return false;
  }
  return true;
}

/// Whether a series named `name` (as its metric_def declares it) is
/// `family`, which may also be the exported spelling (`myapp_jobs_total`,
/// `p21_db_queries_total`).
bool named(const std::string& name, const std::string& family, const char* suffix) {
  return name == family || name + suffix == family || "p21_" + name + suffix == family;
}

/// A counter's or gauge's matching series, summed.
std::optional<double> lookup(const metric_set* m, const std::string& family,
                             const metric_labels& labels) {
  if (!m)
    return std::nullopt;
  std::optional<double> sum;
  auto scan = [&](const std::vector<metric_sample>& xs, const char* suffix) {
    for (auto& x : xs)
      if (named(x.name, family, suffix) && has_labels(x.labels, labels))
        sum = sum.value_or(0) + x.value;
  };
  scan(m->counters, "_total");
  scan(m->gauges, "");
  return sum;
}

const histogram_summary* find_histogram(const metric_set* m, const std::string& family,
                                        const metric_labels& labels) {
  if (m)
    for (auto& h : m->histograms)
      if (named(h.name, family, "") && has_labels(h.labels, labels))
        return &h;
  return nullptr;
}

} // namespace

std::optional<double> metric_value(const metric_set& m, const sensor& s) {
  return lookup(&m, s.family, s.labels);
}

snapshot_view::clock::time_point snapshot_view::now() const {
  return ctx_.now();
}

std::optional<double> snapshot_view::interval() const {
  if (!ctx_.previous)
    return std::nullopt;
  return rules::seconds(ctx_.now() - ctx_.previous->now);
}

const performance_summary& snapshot_view::summary() const {
  static const performance_summary none;
  return ctx_.snapshot.summary ? *ctx_.snapshot.summary : none;
}

std::optional<double> snapshot_view::metric(const std::string& family,
                                            const metric_labels& labels) const {
  return lookup(ctx_.snapshot.metrics.get(), family, labels);
}

std::optional<double> snapshot_view::previous_metric(const std::string& family,
                                                     const metric_labels& labels) const {
  return ctx_.previous ? lookup(ctx_.previous->metrics.get(), family, labels) : std::nullopt;
}

const histogram_summary* snapshot_view::histogram(const std::string& family,
                                                  const metric_labels& labels) const {
  return find_histogram(ctx_.snapshot.metrics.get(), family, labels);
}

const histogram_summary* snapshot_view::previous_histogram(const std::string& family,
                                                           const metric_labels& labels) const {
  return ctx_.previous ? find_histogram(ctx_.previous->metrics.get(), family, labels) : nullptr;
}

std::optional<double> snapshot_view::knob(const std::string& name) const {
  auto i = ctx_.snapshot.knobs.find(name);
  if (i == ctx_.snapshot.knobs.end())
    return std::nullopt;
  return i->second;
}

double snapshot_view::memory_percent() const {
  return ctx_.snapshot.memory_percent;
}

double snapshot_view::cpu_percent() const {
  return ctx_.snapshot.cpu_percent;
}

bool snapshot_view::memory_tight() const {
  return ctx_.state.memory_tight;
}

std::vector<std::string> snapshot_view::families() const {
  std::vector<std::string> out;
  if (auto& m = ctx_.snapshot.metrics) {
    for (auto& x : m->counters)
      out.push_back(x.name);
    for (auto& x : m->gauges)
      out.push_back(x.name);
    for (auto& x : m->histograms)
      out.push_back(x.name);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool snapshot_view::has_family(const std::string& family) const {
  auto& m = ctx_.snapshot.metrics;
  if (!m)
    return false;
  auto any = [&](const std::vector<metric_sample>& xs, const char* suffix) {
    return std::any_of(xs.begin(), xs.end(),
                       [&](auto& x) { return named(x.name, family, suffix); });
  };
  return any(m->counters, "_total") || any(m->gauges, "") ||
         std::any_of(m->histograms.begin(), m->histograms.end(),
                     [&](auto& h) { return named(h.name, family, ""); });
}

} // namespace p21
