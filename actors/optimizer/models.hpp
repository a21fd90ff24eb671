#pragma once

// The optimizer's models, internal to actors/optimizer: Holt's forecast of
// a metric, a cache's miss-ratio curve from its ghost list, and Little's
// law for a pool of workers (a histogram's window quantile is
// `window_quantile`, p21/histogram.hpp). Plain functions of their inputs;
// the engine (engine.hpp) turns them into decisions.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "p21/config.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// Holt's linear (double exponential) smoothing of one metric over
/// irregular times, with the mean absolute one-step error as its residual:
/// where a rule's metric is heading, and how far to trust it.
class holt_forecast {
public:
  using clock = std::chrono::steady_clock;

  explicit holt_forecast(double alpha = 0.6, double beta = 0.5)
    : alpha_(alpha)
    , beta_(beta) {}

  /// Feeds one value at `now`.
  void observe(double value, clock::time_point now);

  /// The value expected `ahead` after the last observation; none before
  /// three observations (a trend needs two, its check a third).
  std::optional<double> at(timespan ahead) const;

  /// The one-step forecast for `now` (before observing it); none before
  /// three observations.
  std::optional<double> expected(clock::time_point now) const;

  /// Mean absolute one-step error.
  double residual() const noexcept { return residual_; }

  /// The rule's own action moved the level: the next value is the new
  /// level (the trend stays), and is not judged as a forecast. After only
  /// one value there is no trend yet: the next value starts the series
  /// afresh, so that the action's own drop is never taken for a trend (a
  /// rule acting on its first value then forecast a steep fall, missed,
  /// and stopped forecasting the climb back).
  void rebase() noexcept { rebase_ = n_ >= 1; }

private:
  double alpha_;
  double beta_;
  size_t n_ = 0;
  double level_ = 0;
  /// Per second.
  double trend_ = 0;
  double residual_ = 0;
  bool rebase_ = false;
  clock::time_point last_{};
};

/// The entries that bring a cache to `target_percent` hits, from one
/// window's hits, requests and ghost hits by depth (the miss-ratio curve the
/// ghost list measures): none when the window says nothing. `reached` is
/// false when the target lies beyond what the ghost list sees; `entries` is
/// then the farthest it sees.
struct mrc_answer {
  uint64_t entries = 0;
  double hit_rate = 0;
  bool reached = false;
};
std::optional<mrc_answer> mrc_entries(const std::vector<uint64_t>& ghost_depths, double hits,
                                      double requests, uint64_t current, double target_percent);

/// Little's law (L = lambda x W) for a pool of workers: `busy` workers are
/// what `arrivals` per second of `service` seconds each keep busy; the pool
/// gets `busy / utilization` of them, plus, for the `queued` jobs already
/// waiting, `for_backlog` = queued x service / drain more, so that the
/// queued work is done within `drain_s` seconds (with `drain_s` under one
/// job's service time, a worker per queued job: none can start sooner than
/// at once). Without the backlog term the pool only keeps up with new work
/// and the queue found on acting drains on the headroom alone, its jobs
/// waiting on. None when the inputs say nothing (no service time, or
/// neither arrivals nor a queue).
struct littles_law_answer {
  double busy = 0;
  double for_backlog = 0;
  double workers = 0;
};
std::optional<littles_law_answer> littles_law(double arrivals, double service, double utilization,
                                              double queued = 0, double drain_s = 0);

} // namespace p21
