#pragma once

// What `p21 run` shows: a compact status line every `[logging]
// status_interval` (on a terminal; a log line otherwise) and a summary of
// every subsystem at exit.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "p21/p21.hpp"

namespace p21::app {

class demo;

/// The node's cumulative figures at one moment, read from its running
/// components (a component that is not running is left out, not started).
struct node_reading {
  std::chrono::steady_clock::time_point at;
  double health = 100;
  std::string status = "healthy";
  uint64_t monitor_samples = 0;
  std::vector<std::string> firing;
  uint64_t alerts_fired = 0;
  /// Configured caches, and those running (lazy ones start on first use).
  std::vector<std::string> caches, caches_running;
  uint64_t cache_hits = 0, cache_misses = 0, cache_entries = 0, cache_capacity = 0;
  bool db = false;
  /// db_in_use: the most reader connections in use at once lately.
  uint64_t db_queries = 0, db_cache_hits = 0, db_cache_misses = 0, db_in_use = 0, db_open = 0;
  uint64_t db_timeouts = 0, db_errors = 0;
  bool subprocess = false;
  uint64_t commands = 0, commands_failed = 0, running = 0, max_processes = 0, max_running = 0;
  uint64_t git_hits = 0, git_misses = 0, git_invalidations = 0;
  bool optimizer = false;
  uint64_t evaluations = 0, actions = 0;
  std::string last_action;
  std::string http;
  /// The Redis tier (caches with backend = "redis"), when the node has one.
  bool redis = false, redis_connected = false;
  uint64_t redis_near_hits = 0, redis_near_misses = 0, redis_round_trips = 0;
  uint64_t redis_invalidations = 0, redis_flushes = 0, redis_reconnects = 0, redis_errors = 0;
  double redis_p99_s = 0;
  /// "publishing cache.shared on 127.0.0.1:7100", "a: cache.shared connected", ...
  std::vector<std::string> cluster;
};

class node_status {
public:
  explicit node_status(runtime& rt);

  /// Reads the node now (bounded: each component gets a second to answer).
  node_reading read();

  /// One line: health, requests per second and hit rates since `prev`.
  static std::string line(const node_reading& prev, const node_reading& now,
                          const std::string& phase);

  /// The summary printed at exit, one line per subsystem.
  static std::string summary(const node_reading& first, const node_reading& last,
                             const demo* workload);

private:
  bool running(const std::string& component) const;
  /// `[http] listen` with the port the endpoint is bound to.
  std::string http_endpoint();

  runtime& rt_;
  uint64_t events_seen_ = 0;
  uint64_t actions_seen_ = 0;
  std::string http_bound_;
  uint64_t http_asked_at_start_ = 0;
  uint64_t alerts_fired_ = 0;
  uint64_t max_running_ = 0;
  std::string last_action_;
};

} // namespace p21::app
