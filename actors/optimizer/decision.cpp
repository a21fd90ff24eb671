// A rule's gate (its for duration, cooldown and hysteresis) and how a
// decision reads in the log: what every rule uses, apart from the rules.

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "engine.hpp"

namespace p21 {

// -- rule_gate --------------------------------------------------------------------------

bool rule_gate::observe(double value, clock::time_point now) {
  last_value_ = value;
  if (!cfg_.enabled) {
    firing_ = false;
    pending_since_.reset();
    return false;
  }
  auto past = [&](double limit) {
    return above_ ? value > limit : value < limit;
  };
  if (firing_) {
    // Back at or past the clear threshold (a count such as waiting reads
    // clears at 0).
    auto cleared = above_ ? value <= cfg_.clear_threshold : value >= cfg_.clear_threshold;
    if (cleared) {
      firing_ = false;
      pending_since_.reset();
      return false;
    }
  } else {
    if (!past(cfg_.threshold)) {
      pending_since_.reset();
      return false;
    }
    if (!pending_since_)
      pending_since_ = now;
    if (now - *pending_since_ < cfg_.for_duration)
      return false;
    firing_ = true;
  }
  return !last_action_ || now - *last_action_ >= cfg_.cooldown;
}

// -- decisions --------------------------------------------------------------------------

std::string decision::describe() const {
  std::ostringstream out;
  switch (kind) {
  case shrink_cache:
    out << "shrink cache " << target << " by " << arg * 100 << " %";
    break;
  case resize_cache:
    out << "resize cache " << target << " to " << uint64_t(arg) << " entries";
    break;
  case release_memory:
    out << "release SQLite memory of " << target;
    break;
  case set_pool_size:
    out << "set " << target << " pool_size to " << uint64_t(arg);
    break;
  case resize_git_cache:
    out << "resize the git cache to " << uint64_t(arg) << " entries";
    break;
  case set_max_processes:
    out << "set " << target << " max_processes to " << uint64_t(arg);
    break;
  case checkpoint:
    out << "checkpoint " << target;
    break;
  case vacuum:
    out << "vacuum " << target;
    break;
  case preload:
    out << "preload " << target << " at the next start";
    break;
  case signal_pressure:
    out << "ask registered resources to give back " << arg * 100 << " %";
    break;
  case set_monitor_interval:
    out << "set the monitor's sampling interval to " << arg << " s";
    break;
  case rotate_logs:
    out << "rotate the log file";
    break;
  case set_knob:
    out << "set knob " << target << " to " << arg;
    break;
  case unload:
    out << "unload " << target << " (unused for " << arg << " s; its next use starts it)";
    break;
  }
  if (!why.empty())
    out << " (" << why << ")";
  return out.str();
}

} // namespace p21
