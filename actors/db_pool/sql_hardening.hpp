#pragma once

// What a connection lets a caller's SQL reach besides the tables, as plain
// functions of SQLite and text (no CAF), so that the `sql` fuzz target
// configures its connection with the very code the node runs: the
// connection settings SQLite's "Defense Against the Dark Arts" asks for,
// SQLite's run-time limits and the allow-list of SQL functions.

#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;

namespace p21::db_detail {

/// What `harden` needs to know about the connection.
struct hardening {
  /// The largest string or blob one value may be (`SQLITE_LIMIT_LENGTH`):
  /// the pool's `max_result_bytes`, at most SQLite's 1 000 000 000.
  uint64_t max_value_bytes = 64ull << 20;
  /// The writer keeps one attached database for its own VACUUM.
  bool writer = false;
};

/// SQLite's own ceiling for `SQLITE_LIMIT_LENGTH` (`SQLITE_MAX_LENGTH`).
constexpr uint64_t sqlite_max_length = 1'000'000'000;

/// The SQL text of one statement, at most (`SQLITE_LIMIT_SQL_LENGTH`): a
/// published pool refuses longer SQL before it reaches SQLite.
constexpr int max_sql_length = 1 << 20;

/// Sets the connection's defensive options and limits (see the .cpp for
/// each value and why). Returns an empty string, or what SQLite refused.
std::string harden(sqlite3* db, const hardening& h);

/// Whether a caller's statement may call the SQL function `name` (any
/// case): SQLite's pure scalar, aggregate, window, date, math and JSON
/// functions and the full-text search helpers; never `fts3_tokenizer`,
/// `load_extension` and the other functions that reach past the data. The
/// connection also allows the functions the application registered itself
/// (`connection_settings::on_connect`).
bool function_allowed(std::string_view name) noexcept;

/// Whether a caller's statement may read `table` (any case): everything but
/// `sqlite_stmt`, which lists the statements other callers prepared on the
/// connection.
bool table_readable(std::string_view table) noexcept;

} // namespace p21::db_detail
