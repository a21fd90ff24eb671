#pragma once

// `[database]`, owned by the SQLite pool (actors/db_pool/config_keys.cpp
// declares its keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// SQLite's `PRAGMA synchronous`, spelled as SQLite spells it (`OFF`,
/// `NORMAL`, `FULL`, `EXTRA`).
enum class synchronous_mode { off, normal, full, extra };

inline std::string to_string(synchronous_mode x) {
  switch (x) {
  case synchronous_mode::off:
    return "OFF";
  case synchronous_mode::normal:
    return "NORMAL";
  case synchronous_mode::full:
    return "FULL";
  case synchronous_mode::extra:
    return "EXTRA";
  }
  return "?";
}

/// `[database]`: the SQLite connection pool.
struct database_config {
  std::string path = "perfect21.db";
  size_t pool_size = 10;
  size_t max_overflow = 20;
  timespan pool_timeout = std::chrono::seconds{30};
  /// Overflow connections idle this long are closed.
  timespan idle_timeout = std::chrono::seconds{60};
  /// Connections older than this are reopened when next idle.
  timespan max_lifetime = std::chrono::minutes{30};
  /// An idle connection unused this long gets `SELECT 1` before reuse.
  timespan health_check_after = std::chrono::seconds{30};
  /// A statement holding a connection this long is logged as a leak suspect.
  timespan leak_threshold = std::chrono::seconds{60};
  /// SQLite `busy_timeout`.
  timespan busy_timeout = std::chrono::seconds{5};
  /// A caller's statement or transaction running longer is interrupted and
  /// fails with `timeout` (zero: no deadline). A stopping pool interrupts
  /// whatever runs, whatever this says.
  timespan statement_timeout = std::chrono::seconds{30};
  synchronous_mode synchronous = synchronous_mode::normal;
  /// Prepared statements kept per connection.
  size_t statement_cache = 64;
  /// What one statement's result may hold, in bytes; past it the statement
  /// stops and fails with `bad_query`. Also SQLite's largest single value
  /// (`SQLITE_LIMIT_LENGTH`).
  uint64_t max_result_bytes = 64ull << 20;
  /// Cache SELECT results (`[cache] db_maxsize`, `db_ttl`), invalidated by
  /// writes to the tables they read.
  bool query_cache = true;
  /// What the cached results may hold in all, in bytes; one result above an
  /// eighth of it is not cached.
  uint64_t query_cache_max_bytes = 64ull << 20;
  /// How often the pool asks SQLite whether another process wrote the file
  /// (`PRAGMA data_version`); such a write flushes the query cache.
  timespan data_version_interval = std::chrono::milliseconds{200};
};

} // namespace p21
