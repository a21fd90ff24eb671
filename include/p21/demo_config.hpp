#pragma once

// `[demo]`, the built-in workload of the `p21` command (app/), declared by
// the umbrella library (actors/demo/config_keys.cpp).

#include <cstddef>
#include <string>
#include "p21/config.hpp"

namespace p21 {

/// `[demo]`: the built-in workload `p21 run` drives, so that a new node has
/// something to cache, query, run, monitor and tune. Off unless enabled.
struct demo_config {
  bool enabled = false;
  /// Length of each of the four phases (steady, shift, writes, processes).
  timespan phase = std::chrono::seconds{15};
  /// Operations per second, all clients together.
  double rate = 400;
  /// Threads issuing them.
  size_t clients = 2;
  /// Git work tree whose status is checked; empty: a scratch repository made
  /// in the temporary directory and removed at exit.
  std::string repo;
};

} // namespace p21
