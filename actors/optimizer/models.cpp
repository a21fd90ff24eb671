#include "models.hpp"

#include "p21/protocol/cache.hpp"

#include <algorithm>
#include <cmath>

namespace p21 {

namespace {

template <class T>
T diff(T now, T before) {
  return now > before ? now - before : T{0};
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

// -- models -----------------------------------------------------------------------------

void holt_forecast::observe(double value, clock::time_point now) {
  auto dt = std::max(1e-3, seconds(now - last_));
  if (rebase_) {
    level_ = value;
    last_ = now;
    rebase_ = false;
    return;
  }
  if (n_ == 0) {
    level_ = value;
  } else if (n_ == 1) {
    trend_ = (value - level_) / dt;
    level_ = value;
  } else {
    auto predicted = level_ + trend_ * dt;
    auto error = std::fabs(value - predicted);
    residual_ = n_ == 2 ? error : 0.7 * residual_ + 0.3 * error;
    auto level = alpha_ * value + (1 - alpha_) * predicted;
    trend_ = beta_ * (level - level_) / dt + (1 - beta_) * trend_;
    level_ = level;
  }
  last_ = now;
  ++n_;
}

std::optional<double> holt_forecast::at(timespan ahead) const {
  if (n_ < 3)
    return std::nullopt;
  return level_ + trend_ * seconds(ahead);
}

std::optional<double> holt_forecast::expected(clock::time_point now) const {
  if (n_ < 3 || rebase_)
    return std::nullopt;
  return level_ + trend_ * std::max(0.0, seconds(now - last_));
}

std::optional<mrc_answer> mrc_entries(const std::vector<uint64_t>& ghost_depths, double hits,
                                      double requests, uint64_t current, double target_percent) {
  if (requests <= 0)
    return std::nullopt;
  mrc_answer a;
  a.entries = current;
  a.hit_rate = 100 * hits / requests;
  if (a.hit_rate >= target_percent) {
    a.reached = true;
    return a;
  }
  // A cache larger by x entries would also have hit the ghost hits of depth
  // up to x: walk the buckets, linear within one.
  auto need = target_percent / 100 * requests - hits;
  double gained = 0;
  double lower = 0;
  for (size_t i = 0; i < ghost_depths.size(); ++i) {
    auto upper = ghost_depth_bound(i);
    auto here = double(ghost_depths[i]);
    if (here > 0 && gained + here >= need) {
      auto x = lower + (upper - lower) * (need - gained) / here;
      a.entries = current + uint64_t(std::ceil(x));
      a.hit_rate = target_percent;
      a.reached = true;
      return a;
    }
    gained += here;
    if (here > 0) {
      a.entries = current + uint64_t(std::ceil(upper));
      a.hit_rate = 100 * (hits + gained) / requests;
    }
    lower = upper;
  }
  if (gained == 0)
    return std::nullopt; // no ghost hit: the curve is flat as far as it is known
  return a;
}

std::optional<littles_law_answer> littles_law(double arrivals, double service, double utilization,
                                              double queued, double drain_s) {
  if (!(service > 0) || !(utilization > 0) || arrivals < 0 || queued < 0 ||
      (arrivals == 0 && queued == 0))
    return std::nullopt;
  littles_law_answer a;
  a.busy = arrivals * service;
  a.for_backlog = queued * service / std::max(drain_s, service);
  // Within a rounding error of a whole number of workers, that number
  // (4 busy at 80 % is 5 workers, not 6).
  a.workers = std::ceil(a.busy / utilization + a.for_backlog - 1e-9);
  return a;
}

} // namespace p21
