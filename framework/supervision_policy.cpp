#include "p21/supervisor.hpp"

#include <algorithm>

namespace p21 {

std::string to_string(restart x) {
  switch (x) {
  case restart::permanent:
    return "permanent";
  case restart::transient:
    return "transient";
  case restart::temporary:
    return "temporary";
  }
  return "permanent";
}

supervision_policy::supervision_policy(strategy s, size_t max_restarts, timespan period,
                                       timespan backoff_initial, timespan backoff_max,
                                       uint64_t seed)
  : strategy_(s)
  , max_restarts_(max_restarts)
  , period_(period)
  , backoff_initial_(backoff_initial)
  , backoff_max_(backoff_max)
  , rng_(seed) {
  // nop
}

supervision_policy::decision supervision_policy::on_exit(size_t index, restart policy,
                                                         bool abnormal,
                                                         const std::vector<bool>& running,
                                                         clock::time_point now, bool counts) {
  decision result;
  bool wants_restart = policy == restart::permanent || (policy == restart::transient && abnormal);
  if (!wants_restart)
    return result;
  // Restart intensity: at most max_restarts_ within any window of period_.
  auto horizon = now - period_;
  history_.erase(
      std::remove_if(history_.begin(), history_.end(), [&](auto t) { return t <= horizon; }),
      history_.end());
  if (counts) {
    if (history_.size() >= max_restarts_) {
      result.kind = decision::escalate;
      return result;
    }
    history_.push_back(now);
  }
  result.kind = decision::restart;
  // Which siblings go down and come back with the child.
  size_t first = index;
  size_t last = index + 1;
  if (strategy_ == strategy::one_for_all) {
    first = 0;
    last = running.size();
  } else if (strategy_ == strategy::rest_for_one) {
    last = running.size();
  }
  for (size_t i = last; i-- > first;)
    if (i != index && running[i])
      result.stop.push_back(i);
  for (size_t i = first; i < last; ++i)
    if (i == index || running[i])
      result.start.push_back(i);
  // Exponential backoff with "equal jitter": half fixed, half random, so
  // restarts of many nodes do not synchronize.
  auto n = history_.empty() ? 0 : history_.size() - 1;
  auto base = backoff_initial_;
  for (size_t i = 0; i < n && base < backoff_max_; ++i)
    base *= 2;
  base = std::min(base, backoff_max_);
  if (base.count() > 1) {
    std::uniform_int_distribution<int64_t> jitter{0, base.count() / 2};
    result.delay = timespan{base.count() / 2 + jitter(rng_)};
  } else {
    result.delay = base;
  }
  return result;
}

} // namespace p21
