#pragma once

// Helpers shared by the tests that run a node with the standard subsystems
// (the umbrella library): the framework's helpers (actor_support.hpp) and a
// quiet config whose database is in memory.

#include "p21/db_config.hpp"
#include "p21/subsystems.hpp"
#include "support/actor_support.hpp"

namespace p21::test {

/// A quiet config for tests: errors only, fast restarts, an in-memory
/// database.
inline config test_config() {
  auto cfg = quiet_config();
  cfg.get<database_config>().path = ":memory:";
  return cfg;
}

} // namespace p21::test
