#include "p21/call_options.hpp"

#include <algorithm>
#include <cmath>

#include "p21/error.hpp"

namespace p21 {

caf::timespan retry_policy::backoff(uint32_t failed, double unit) const noexcept {
  auto first = std::max<double>(0, static_cast<double>(initial_backoff.count()));
  auto cap = std::max<double>(first, static_cast<double>(max_backoff.count()));
  auto growth = std::max(1.0, multiplier);
  // Capped before it can overflow: growth^62 of a nanosecond is ~4e18.
  auto b = first * std::pow(growth, std::min<double>(failed > 0 ? failed - 1 : 0, 62));
  b = std::min(b, cap);
  auto j = std::clamp(jitter, 0.0, 1.0);
  auto u = std::clamp(unit, 0.0, 1.0);
  return caf::timespan{static_cast<int64_t>(b * (1.0 - j * u))};
}

bool retryable(const caf::error& e) {
  return is(e, errc::unavailable);
}

} // namespace p21
