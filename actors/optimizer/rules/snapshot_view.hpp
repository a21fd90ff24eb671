#pragma once

// An application's rule's view (p21/rule.hpp) of one evaluation: the
// snapshot's metrics and the knobs read before it.

#include "p21/rule.hpp"
#include "rule.hpp"

namespace p21 {

class snapshot_view final : public rule_view {
public:
  explicit snapshot_view(const rule_context& ctx)
    : ctx_(ctx) {}

  clock::time_point now() const override;
  std::optional<double> interval() const override;
  const performance_summary& summary() const override;
  std::optional<double> metric(const std::string& family,
                               const metric_labels& labels) const override;
  std::optional<double> previous_metric(const std::string& family,
                                        const metric_labels& labels) const override;
  const histogram_summary* histogram(const std::string& family,
                                     const metric_labels& labels) const override;
  const histogram_summary* previous_histogram(const std::string& family,
                                              const metric_labels& labels) const override;
  std::optional<double> knob(const std::string& name) const override;
  double memory_percent() const override;
  double cpu_percent() const override;
  bool memory_tight() const override;

  /// Whether the snapshot has any series of `family` (a counter, gauge or
  /// histogram), and the families it has (for a did-you-mean).
  bool has_family(const std::string& family) const;
  std::vector<std::string> families() const;

private:
  const rule_context& ctx_;
};

/// What a value sensor (`sensor_statistic::value`) reads in `m`: its
/// family's matching counters and gauges, summed; none when no series
/// matches.
std::optional<double> metric_value(const metric_set& m, const sensor& s);

} // namespace p21
