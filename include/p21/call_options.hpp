#pragma once

// Per-call options of the non-blocking calls (`p21/async.hpp`): how long a
// call may take in all, and how it retries a component that is restarting.

#include <chrono>
#include <cstdint>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

namespace p21 {

/// How a call retries while its target is `unavailable` (down, restarting,
/// not yet started). Errors a retry cannot fix (`bad_query`,
/// `invalid_argument`, `command_failed`, `timeout`, ...) are never retried.
/// Each wait is drawn at random from `[(1 - jitter) * b, b]`, where `b`
/// starts at `initial_backoff` and grows by `multiplier` up to
/// `max_backoff`, so callers of one restarting component spread out.
struct retry_policy {
  /// Attempts in all, the first included; 0: as many as fit before the
  /// deadline; 1: no retry.
  uint32_t max_attempts = 0;
  caf::timespan initial_backoff = std::chrono::milliseconds{10};
  caf::timespan max_backoff = std::chrono::milliseconds{500};
  double multiplier = 2.0;
  /// The fraction of each wait that is random, in [0, 1].
  double jitter = 0.5;
  /// Also send again a request that reached its target before the failure
  /// (the target may have acted on it): for idempotent calls. Reads
  /// (`db::async_query`, `cache::async_get_or_load`) always may; without
  /// it a write or `p21::async_call` retries only while the target cannot
  /// be reached at all.
  bool resend = false;

  /// A policy that never retries.
  static retry_policy none() {
    retry_policy p;
    p.max_attempts = 1;
    return p;
  }

  /// The wait after `failed` attempts (1 after the first), for `unit` drawn
  /// uniformly from [0, 1).
  caf::timespan backoff(uint32_t failed, double unit) const noexcept;
};

/// Options of one non-blocking call.
struct call_options {
  /// The call's whole budget from the moment it is made, retries included;
  /// past it the call completes with `timeout` (or the last `unavailable`)
  /// and work it queued in a component that honours deadlines (the db
  /// pool) is dropped. Zero: the handle's own timeout (`rt.call`:
  /// `[runtime] request_timeout`; `db`: `pool_timeout` plus
  /// `request_timeout`; ...).
  caf::timespan deadline{0};
  /// Retrying while the target is `unavailable`.
  retry_policy retry{};
};

/// Whether a retry can fix `e`: only `unavailable` can.
bool retryable(const caf::error& e);

} // namespace p21
