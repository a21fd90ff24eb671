#pragma once

// When an early evaluation (`evaluate_now`: an alert fired or resolved,
// memory pressure) may run: at once if the last round is at least `min_gap`
// old, else once at the end of the gap, however many asked meanwhile. A
// flapping alert then costs at most one round per gap, and the last change
// is never lost. Plain logic; time is a parameter.

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace p21 {

class wake_limiter {
public:
  using clock = std::chrono::steady_clock;

  enum class verdict {
    now,     ///< run a round now
    later,   ///< schedule one round at `due()`
    pending, ///< one is already scheduled: nothing to do
  };

  explicit wake_limiter(clock::duration min_gap)
    : min_gap_(min_gap) {}

  /// A wake-up at `now`; `busy`: a round is running (its sample may predate
  /// the reason), so this one waits for the gap.
  verdict ask(clock::time_point now, bool busy) {
    if (scheduled_)
      return verdict::pending;
    if (!busy && (!last_ || now - *last_ >= min_gap_))
      return verdict::now;
    scheduled_ = true;
    due_ = last_ ? std::max(*last_ + min_gap_, now) : now + min_gap_;
    if (busy)
      due_ = std::max(due_, now + min_gap_);
    return verdict::later;
  }

  /// When the scheduled round is due.
  clock::time_point due() const noexcept { return due_; }

  /// The scheduled round's time came: it may run (or ask again if busy).
  void fire() noexcept { scheduled_ = false; }

  /// A round started at `now` (a tick, `evaluate` or a wake-up).
  void ran(clock::time_point now) noexcept { last_ = now; }

  clock::duration min_gap() const noexcept { return min_gap_; }

private:
  clock::duration min_gap_;
  std::optional<clock::time_point> last_;
  bool scheduled_ = false;
  clock::time_point due_{};
};

/// What the next early round wakes: the metric families its wake-ups named
/// (an alert's, memory pressure's), merged while it waits for the rate
/// limit; every rule once one of them named none. Plain logic.
class wake_scope {
public:
  /// A wake-up for `families` (none: every rule).
  void add(const std::optional<std::vector<std::string>>& families) {
    if (!families) {
      every_ = true;
      return;
    }
    for (auto& f : *families)
      if (std::find(families_.begin(), families_.end(), f) == families_.end())
        families_.push_back(f);
  }

  /// What the round about to run wakes, and starts afresh.
  std::optional<std::vector<std::string>> take() {
    std::optional<std::vector<std::string>> out;
    if (!every_)
      out = std::move(families_);
    every_ = false;
    families_.clear();
    return out;
  }

private:
  bool every_ = false;
  std::vector<std::string> families_;
};

} // namespace p21
