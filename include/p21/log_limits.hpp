#pragma once

// Bounds on what peers can make a node log. A peer decides how often an
// actor it reaches meets something unexpected and how large that something
// is; logged as it comes, twenty 1 MB messages rotated the whole log away
// in a second. A call site that logs peer input keeps a `log_rate_limiter`
// (a few lines a second, then one count of the lines it held back) and
// prints peer data through `peer_text` (at most `peer_text_limit` bytes,
// escaped, with the full size).

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "p21/config.hpp"

namespace p21 {

/// Bytes of peer data a log line shows.
inline constexpr size_t peer_text_limit = 200;

/// `x` for a log line: at most `limit` of its bytes, control characters,
/// quotes and bytes above 0x7e escaped (`\n`, `\x01`), and when it was
/// longer, `... (N bytes)` with its full size.
std::string peer_text(std::string_view x, size_t limit = peer_text_limit);

/// A token bucket for one call site: `per_second` lines a second on
/// average, up to `burst` at once; the lines past that are counted, and
/// the next line admitted reports how many. Safe from any thread.
class log_rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// `now` gives the time (tests inject theirs).
  explicit log_rate_limiter(double per_second = 5, double burst = 10,
                            std::function<clock::time_point()> now = clock::now);

  /// Whether a line may be logged now, and how many lines were held back
  /// since the last one that was.
  struct verdict {
    bool log = false;
    uint64_t suppressed = 0;
  };

  /// Takes a token for one line when there is one.
  verdict admit();

  /// Lines held back since the last admitted one.
  uint64_t suppressed() const;

private:
  double per_second_;
  double burst_;
  std::function<clock::time_point()> now_;
  mutable std::mutex mtx_;
  double tokens_;
  clock::time_point refilled_;
  uint64_t suppressed_ = 0;
};

/// Logs the line `text()` builds at `level` when `limit` admits it (with
/// "(N similar lines suppressed)" when it held some back); `text` runs only
/// then, so that a flood costs no formatting. Returns whether it logged.
bool log_limited(log_rate_limiter& limit, log_level level,
                 const std::function<std::string()>& text);

} // namespace p21
