#pragma once

// One sampling round of the monitor as plain logic: what the round's metrics
// say about the five health targets, and the summary it leaves. The monitor
// actor (monitor_actor.cpp) collects the metrics and the system sample,
// fires alerts and answers; what it computes is here, tested without an
// actor system.
//
// Which series count is declared with each metric (`metric_role`): the
// growth of `request` and `error` counters makes the error rate, of `hit`
// and `miss` counters the cache hit rate, of `latency` histograms the p95.
// A user's counters named `*_requests` / `*_errors` and histograms named
// `*_response_seconds` count as if so declared.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alerts.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/protocol/monitor.hpp"
#include "system_metrics.hpp"

namespace p21 {

/// The five targets by the names the summary and alerts use
/// (`cpu_percent`, `memory_percent`, `cache_hit_rate`, `p95_seconds`,
/// `error_rate`); absent while there is nothing to judge.
using health_targets = std::map<std::string, std::optional<double>>;

class health_round {
public:
  using clock = std::chrono::steady_clock;

  // -- one round, in order ------------------------------------------------------

  /// Files each component's series and typed stats under its name: label
  /// `component` (two caches' `cache_hits` are two series of one family),
  /// stats keyed `NAME` or `NAME.KEY`.
  static std::map<std::string, metric_set>
  by_component(std::map<std::string, metric_set> collected);

  /// Sets the traffic inputs of `in` (hit rate, p95, error rate) from what
  /// `sources` grew by since the previous call (a counter that went down
  /// restarted: it counts from zero). Unset when a round saw no traffic.
  void measure(const std::vector<const metric_set*>& sources, health_inputs& in);

  /// The targets of `in`, by name.
  static health_targets targets_of(const health_inputs& in);

  /// Fills `s`: score, status, targets, their baselines and trends (which
  /// advance by this round), the system values, each component's stats
  /// (with what the runtime's registry, `user`, records about it) and the
  /// round count. Leaves `active_alerts` to the caller.
  void summarize(performance_summary& s, const health_inputs& in, const health_targets& targets,
                 const system_sample& sys, const std::map<std::string, metric_set>& components,
                 const metric_set& user, clock::time_point now);

  // -- the rules, for callers and tests -------------------------------------------

  /// Whether a counter's growth counts as requests / errors.
  static bool counts_requests(const metric_sample& c);
  static bool counts_errors(const metric_sample& c);

  /// Whether a histogram's growth makes the p95.
  static bool counts_latency(const histogram_summary& h);

private:
  std::map<std::string, double> prev_counters_;
  std::map<std::string, std::vector<uint64_t>> prev_buckets_;
  std::map<std::string, uint64_t> prev_counts_;
  std::map<std::string, trend> trends_;
};

/// The system values of a summary (`performance_summary::system`).
void fill_system(performance_summary& s, const system_sample& sys);

} // namespace p21
