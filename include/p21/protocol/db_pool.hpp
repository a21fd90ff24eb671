#pragma once

// The SQLite connection pool's typed interface. Parameters are always bound,
// never spliced into SQL text.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// One SQLite value: null, integer, real, text or blob.
struct db_value {
  enum kind_t : uint8_t { null, integer, real, text, blob };
  kind_t kind = null;
  int64_t i = 0;
  double r = 0;
  /// Text or blob bytes.
  std::string s;

  static db_value of_null() { return {}; }
  static db_value of(int64_t x) { return {integer, x, 0, {}}; }
  static db_value of(int x) { return {integer, x, 0, {}}; }
  static db_value of(double x) { return {real, 0, x, {}}; }
  static db_value of(std::string x) { return {text, 0, 0, std::move(x)}; }
  static db_value of(const char* x) { return {text, 0, 0, x}; }
  static db_value of_blob(std::string x) { return {blob, 0, 0, std::move(x)}; }

  friend bool operator==(const db_value& a, const db_value& b) {
    return a.kind == b.kind && a.i == b.i && a.r == b.r && a.s == b.s;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_value& x) {
  return f(caf::meta::type_name("p21.db_value"), x.kind, x.i, x.r, x.s);
}

using db_row = std::vector<db_value>;

/// One SQL statement with its bound parameters.
struct db_statement {
  std::string sql;
  std::vector<db_value> params;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_statement& x) {
  return f(caf::meta::type_name("p21.db_statement"), x.sql, x.params);
}

/// Result of one statement: rows for queries, changes and rowid for writes.
struct db_result {
  std::vector<std::string> columns;
  std::vector<db_row> rows;
  int64_t changes = 0;
  int64_t last_insert_rowid = 0;
  /// Whether the rows came from the query-result cache.
  bool cached = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_result& x) {
  return f(caf::meta::type_name("p21.db_result"), x.columns, x.rows, x.changes, x.last_insert_rowid,
           x.cached);
}

/// Counters and gauges of the pool.
struct db_pool_stats {
  uint64_t size = 0;
  uint64_t in_use = 0;
  uint64_t idle = 0;
  uint64_t waiting = 0;
  uint64_t overflow_opened = 0;
  uint64_t timeouts = 0;
  uint64_t errors = 0;
  uint64_t health_check_failures = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t queries = 0;
  /// Most connections in use at once since the previous stats request.
  uint64_t peak_in_use = 0;
  /// Reader connections kept open: `pool_size`, as rule 3 tunes it.
  uint64_t configured_size = 0;
  /// Time from a read's arrival to a reader taking it, in seconds.
  histogram_summary acquire_time;
  /// Time a reader spends on a read, in seconds.
  histogram_summary query_time;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_pool_stats& x) {
  return f(caf::meta::type_name("p21.db_pool_stats"), x.size, x.in_use, x.idle, x.waiting,
           x.overflow_opened, x.timeouts, x.errors, x.health_check_failures, x.cache_hits,
           x.cache_misses, x.queries, x.peak_in_use, x.configured_size, x.acquire_time,
           x.query_time);
}

/// The metrics the db pool reports.
namespace db_pool_metrics {

inline constexpr metric_def queries =
    metric_def{"db_queries", "Statements run by the db pool.", metric_kind::counter}.with(
        metric_role::request);
inline constexpr metric_def errors =
    metric_def{"db_errors", "Statements that failed.", metric_kind::counter}.with(
        metric_role::error);
inline constexpr metric_def timeouts =
    metric_def{"db_pool_timeouts", "Reads that waited past pool_timeout for a connection.",
               metric_kind::counter}
        .with(metric_role::error);
inline constexpr metric_def overflow_opened{
    "db_overflow_opened", "Overflow connections opened under load.", metric_kind::counter};
inline constexpr metric_def health_check_failures{
    "db_health_check_failures", "Idle connections that failed their health check.",
    metric_kind::counter};
inline constexpr metric_def connections{"db_pool_connections", "Open connections, the writer included.",
                                 metric_kind::gauge};
inline constexpr metric_def in_use{"db_pool_in_use", "Reader connections running a statement.",
                                   metric_kind::gauge};
inline constexpr metric_def idle{"db_pool_idle", "Reader connections idle.", metric_kind::gauge};
inline constexpr metric_def waiting{"db_pool_waiting", "Reads waiting for a connection.",
                                    metric_kind::gauge};
inline constexpr metric_def peak_in_use{
    "db_pool_peak_in_use", "Most reader connections in use at once since the last sample.",
    metric_kind::gauge};
inline constexpr metric_def configured_size{
    "db_pool_configured_size", "Reader connections kept open (pool_size, tuned by rule 3).",
    metric_kind::gauge};
inline constexpr metric_def acquire_seconds =
    metric_def{"db_acquire_seconds", "Time a read waited for a reader connection.",
               metric_kind::histogram, "seconds"}
        .with(metric_role::wait);
inline constexpr metric_def query_seconds =
    metric_def{"db_query_seconds", "Time a statement ran on its connection.",
               metric_kind::histogram, "seconds"}
        .with(metric_role::latency);

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {
    queries, errors,  timeouts,    overflow_opened, health_check_failures, connections,       in_use,
    idle,    waiting, peak_in_use, configured_size, acquire_seconds,       query_seconds};

} // namespace db_pool_metrics

/// The db pool actor. `transaction` runs its statements all-or-nothing.
using db_pool_actor = caf::typed_actor<
    caf::replies_to<query_atom, std::string, std::vector<db_value>>::with<db_result>,
    caf::replies_to<execute_atom, std::string, std::vector<db_value>>::with<db_result>,
    caf::replies_to<transaction_atom, std::vector<db_statement>>::with<std::vector<db_result>>,
    caf::replies_to<checkpoint_atom>::with<bool>, caf::replies_to<vacuum_atom>::with<bool>,
    caf::replies_to<release_memory_atom>::with<uint64_t>,
    caf::replies_to<set_pool_size_atom, uint64_t>::with<uint64_t>,
    // Waits that begin from now on (a reload of `database.pool_timeout`).
    caf::replies_to<set_pool_timeout_atom, caf::timespan>::with<caf::timespan>,
    caf::replies_to<stats_atom>::with<db_pool_stats>,
    caf::replies_to<metrics_atom>::with<metric_set>>;

} // namespace p21
