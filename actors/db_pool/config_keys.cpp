// `[database]`: the keys of the SQLite connection pool.

#include "p21/config_schema.hpp"
#include "p21/db_config.hpp"

#include <cerrno>

#include <sys/stat.h>
#include <unistd.h>

namespace p21 {

namespace {

using namespace std::chrono_literals;

/// The database file's directory must be writable (or, when missing, its
/// nearest existing ancestor, since the node creates it at start), so that
/// a typo fails `p21 check` instead of the first write.
void check_database_path(const config& cfg, const config_checker& ck) {
  auto& path = cfg.get<database_config>().path;
  if (ck.has("database.path") && path.empty())
    ck.fail("database.path", "must not be empty");
  if (path.empty() || path == ":memory:")
    return;
  auto slash = path.find_last_of('/');
  auto dir = slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
  if (dir.empty())
    dir = "/";
  struct stat st;
  int rc;
  while ((rc = ::stat(dir.c_str(), &st)) != 0 && (errno == ENOENT || errno == ENOTDIR) &&
         dir != "/" && dir != ".") {
    auto up = dir.find_last_of('/');
    dir = up == std::string::npos ? "." : up == 0 ? "/" : dir.substr(0, up);
  }
  if (rc != 0)
    ck.fail("database.path", "directory '" + dir + "' does not exist");
  if (!S_ISDIR(st.st_mode))
    ck.fail("database.path", "'" + dir + "' is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    ck.fail("database.path", "directory '" + dir + "' is not writable");
}

/// SQLite cannot hold a value larger than 1 000 000 000 bytes
/// (`SQLITE_MAX_LENGTH`): a larger bound would promise what it cannot do.
void check_result_bytes(const config& cfg, const config_checker& ck) {
  if (cfg.get<database_config>().max_result_bytes > 1'000'000'000)
    ck.fail("database.max_result_bytes",
            "must be at most 1000000000 bytes (SQLite's largest value), got " +
                std::to_string(cfg.get<database_config>().max_result_bytes));
}

} // namespace

void declare_database_keys(config_schema& schema) {
  using D = database_config;
  schema
      .section<D>("database", "The SQLite connection pool.")
      .path("path", &D::path,
            "SQLite file (or `\":memory:\"`); its directory must exist and be writable")
      .count("pool_size", &D::pool_size, 1, 10'000, "connections kept open")
      .live()
      .count("max_overflow", &D::max_overflow, 0, 10'000, "extra connections under load")
      .duration("pool_timeout", &D::pool_timeout, 1ms,
                "a request waiting longer gets `pool_timeout`")
      .live()
      .duration("idle_timeout", &D::idle_timeout, 1ms,
                "overflow connections idle this long are closed")
      .duration("max_lifetime", &D::max_lifetime, 1ms,
                "connections older than this are reopened when next idle")
      .duration("health_check_after", &D::health_check_after, 0s,
                "an idle connection unused this long runs `SELECT 1` before reuse")
      .duration("leak_threshold", &D::leak_threshold, 1ms,
                "a statement holding a connection longer is logged as a leak suspect")
      .duration("busy_timeout", &D::busy_timeout, 0s, "SQLite `busy_timeout`")
      .duration("statement_timeout", &D::statement_timeout, 0s,
                "a statement or transaction running longer is interrupted and fails with "
                "`timeout` (0: no deadline); a stopping pool interrupts whatever runs")
      .choice("synchronous", &D::synchronous,
              {synchronous_mode::off, synchronous_mode::normal, synchronous_mode::full,
               synchronous_mode::extra},
              "SQLite `synchronous` (WAL)")
      .count("statement_cache", &D::statement_cache, 1, 100'000,
             "prepared statements kept per connection")
      .size("max_result_bytes", &D::max_result_bytes, 64 << 10,
            "what one statement's result may hold (values and rows, at most 1000000000); past "
            "it the statement stops with `bad_query`; also the largest single value "
            "(`SQLITE_LIMIT_LENGTH`)")
      .flag("query_cache", &D::query_cache,
            "cache SELECT results (`cache.db_maxsize`, `cache.db_ttl`), invalidated by writes "
            "to the tables they read")
      .size("query_cache_max_bytes", &D::query_cache_max_bytes, 64 << 10,
            "what the cached results may hold in all; a result above an eighth of it is not "
            "cached")
      .duration("data_version_interval", &D::data_version_interval, 1ms,
                "how often the pool looks for writes by other processes (`PRAGMA "
                "data_version`); one flushes the query cache");
  schema.add_check(check_database_path);
  schema.add_check(check_result_bytes);
}

} // namespace p21
