#include "sql_hardening.hpp"

#include "printf_guard.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <sqlite3.h>

namespace p21::db_detail {

namespace {

/// The SQL functions a caller may use, sorted (checked below). What is not
/// here is refused at prepare time with its name. Each entry is pure: it
/// reads its arguments (and at most the connection's own counters) and
/// returns a value. What a function may allocate is bounded by
/// `SQLITE_LIMIT_LENGTH` per value (zeroblob, randomblob, printf('%.*c'),
/// replace, group_concat all check it) and by `max_result_bytes` per result.
/// Borderline ones, kept:
/// - `random`, `randomblob`: non-deterministic, but a random id
///   (`hex(randomblob(16))`) is a common idiom; the size is bounded.
/// - `zeroblob`: how a writer reserves a blob for incremental I/O; bounded.
/// - `hex`, `quote`, `printf`/`format`: bounded; they only render values.
/// - `changes`, `total_changes`, `last_insert_rowid`: counters of the
///   connection; on the shared writer they may describe another caller's
///   write, which tells nothing the tables do not.
/// - `sqlite_version`, `sqlite_source_id`: feature detection.
/// - `match`, `snippet`, `offsets`, `matchinfo` (FTS3/4), `bm25`,
///   `highlight` (FTS5): read-only full-text helpers (`x MATCH y` reaches
///   the authorizer as the function `match`).
/// - `like`, `glob`: the operators reach the authorizer as functions; the
///   pattern is bounded by `SQLITE_LIMIT_LIKE_PATTERN_LENGTH`.
/// - `sqlite_rename_*`, `sqlite_drop_column`: SQLite's internal functions,
///   which its own ALTER TABLE runs through the authorizer; a caller cannot
///   call them (SQLite answers "no such function").
/// Refused, among others: `fts3_tokenizer` (with one argument it returns a
/// C pointer, with two it installs one: the next MATCH calls through it),
/// `load_extension`, `optimize` (FTS3's, merges segments: a write through
/// a SELECT), `fts5` (a C API pointer), `rtreenode`, `rtreedepth`,
/// `rtreecheck` (debugging aids that decode raw node blobs),
/// `sqlite_compileoption_get`/`_used` (no query needs them; `PRAGMA
/// compile_options` stays for the operator), `sqlite_log` (writes to the
/// process's log), `sqlite_offset`, `subtype` and the `geopoly_*` family.
constexpr std::string_view allowed[] = {
    "->", "->>", "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "avg", "bm25",
    "ceil", "ceiling", "changes", "char", "coalesce", "concat", "concat_ws", "cos", "cosh", "count",
    "cume_dist", "current_date", "current_time", "current_timestamp", "date", "datetime", "degrees",
    "dense_rank", "exp", "first_value", "floor", "format", "glob", "group_concat", "hex",
    "highlight", "ifnull", "iif", "instr", "json", "json_array", "json_array_length",
    "json_error_position", "json_extract", "json_group_array", "json_group_object", "json_insert",
    "json_object", "json_patch", "json_pretty", "json_quote", "json_remove", "json_replace",
    "json_set", "json_type", "json_valid", "jsonb", "jsonb_array", "jsonb_extract",
    "jsonb_group_array", "jsonb_group_object", "jsonb_insert", "jsonb_object", "jsonb_patch",
    "jsonb_remove", "jsonb_replace", "jsonb_set", "julianday", "lag", "last_insert_rowid",
    "last_value", "lead", "length", "like", "likelihood", "likely", "ln", "log", "log10", "log2",
    "lower", "ltrim", "match", "matchinfo", "max", "min", "mod", "nth_value", "ntile", "nullif",
    "octet_length", "offsets", "percent_rank", "pi", "pow", "power", "printf", "quote", "radians",
    "random", "randomblob", "rank", "replace", "round", "row_number", "rtrim", "sign", "sin",
    "sinh", "snippet", "soundex", "sqlite_drop_column", "sqlite_rename_column",
    "sqlite_rename_quotefix", "sqlite_rename_table", "sqlite_rename_test", "sqlite_source_id",
    "sqlite_version", "sqrt", "strftime", "string_agg", "substr", "substring", "sum", "tan", "tanh",
    "time", "timediff", "total", "total_changes", "trim", "trunc", "typeof", "unhex", "unicode",
    "unixepoch", "unlikely", "upper", "zeroblob",
};


constexpr bool sorted_strictly() {
  for (size_t i = 1; i < std::size(allowed); ++i)
    if (!(allowed[i - 1] < allowed[i]))
      return false;
  return true;
}
static_assert(sorted_strictly(), "`allowed` must be sorted for binary_search");

std::string lower(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Sets one limit and checks that SQLite took it (a value above the
/// compile-time maximum is lowered to it silently).
bool set_limit(sqlite3* db, int id, int64_t value) {
  auto v = static_cast<int>(std::min<int64_t>(value, INT32_MAX));
  sqlite3_limit(db, id, v);
  return sqlite3_limit(db, id, -1) <= v;
}

} // namespace

std::string harden(sqlite3* db, const hardening& h) {
  int on = -1;
  // Defensive: no writable_schema, no direct writes to shadow tables, none
  // of the features that can corrupt the file from SQL alone.
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on);
  if (on != 1)
    return "SQLITE_DBCONFIG_DEFENSIVE could not be set";
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, &on);
  if (on != 0)
    return "extension loading could not be turned off";
  // Debian builds with SQLITE_ENABLE_FTS3_TOKENIZER: the two-argument
  // fts3_tokenizer() then installs a tokenizer from a blob holding a C
  // pointer, which the next MATCH calls. Off, it refuses; the authorizer
  // refuses the function outright too (the one-argument form returns the
  // pointer, a leak of the library's address, whatever this says).
  sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, &on);
  if (on != 0)
    return "fts3_tokenizer could not be turned off";
  // Functions used in the schema (views, triggers, CHECK, DEFAULT,
  // generated columns) and virtual tables used there must be marked
  // innocuous: a schema cannot call an application's function with side
  // effects behind a caller's back. SQLite's own functions all qualify.
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &on);
  if (on != 0)
    return "trusted_schema could not be turned off";

  // The limits, each lower than SQLite's default only where no caller the
  // README lists needs more.
  struct limit {
    int id;
    int64_t value;
    const char* name;
  };
  const limit limits[] = {
      // One string or blob (and one stored row): what one result may carry
      // at most anyway. Stops zeroblob(300000000) and its kind at once,
      // before SQLite allocates (default 1 000 000 000).
      {SQLITE_LIMIT_LENGTH,
       static_cast<int64_t>(std::min<uint64_t>(h.max_value_bytes, sqlite_max_length)),
       "SQLITE_LIMIT_LENGTH"},
      // One statement's text: 1 MiB, what a published pool accepts from a
      // peer (default 1 000 000 000).
      {SQLITE_LIMIT_SQL_LENGTH, max_sql_length, "SQLITE_LIMIT_SQL_LENGTH"},
      // SQLite's defaults, kept: a lower column count could make an
      // existing schema unreadable, and each value a result carries is
      // counted against max_result_bytes anyway.
      {SQLITE_LIMIT_COLUMN, 2000, "SQLITE_LIMIT_COLUMN"},
      // Parser recursion; SQLite's default is already safe for its stack.
      {SQLITE_LIMIT_EXPR_DEPTH, 1000, "SQLITE_LIMIT_EXPR_DEPTH"},
      {SQLITE_LIMIT_COMPOUND_SELECT, 500, "SQLITE_LIMIT_COMPOUND_SELECT"},
      // Instructions of one compiled statement: 250 000 000 by default,
      // ~6 GB of program; views and CTEs referenced many times multiply a
      // short text. 2 000 000 (at most ~50 MB) leaves a 1 MiB statement
      // about two instructions per byte.
      {SQLITE_LIMIT_VDBE_OP, 2'000'000, "SQLITE_LIMIT_VDBE_OP"},
      {SQLITE_LIMIT_FUNCTION_ARG, 127, "SQLITE_LIMIT_FUNCTION_ARG"},
      // ATTACH is refused to callers; the writer's own VACUUM attaches one
      // database internally (default 10).
      {SQLITE_LIMIT_ATTACHED, h.writer ? 1 : 0, "SQLITE_LIMIT_ATTACHED"},
      // A LIKE or GLOB pattern is matched in one uninterruptible call:
      // 50 000 by default; 1 000 is a long pattern.
      {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000, "SQLITE_LIMIT_LIKE_PATTERN_LENGTH"},
      // Parameters: Debian's default is 250 000; 32 766 is SQLite's own
      // default and what a published pool accepts from a peer.
      {SQLITE_LIMIT_VARIABLE_NUMBER, 32766, "SQLITE_LIMIT_VARIABLE_NUMBER"},
      // Debian turns recursive triggers on by default: 1000 nested trigger
      // programs; 100 is deep for any schema.
      {SQLITE_LIMIT_TRIGGER_DEPTH, 100, "SQLITE_LIMIT_TRIGGER_DEPTH"},
  };
  for (auto& l : limits)
    if (!set_limit(db, l.id, l.value))
      return std::string{l.name} + " could not be set";
  // printf's %c repeats its character once per unit of precision, past any
  // length limit and in one uninterruptible step (printf_guard.hpp).
  return install_printf_guard(db, limits[0].value);
}

bool function_allowed(std::string_view name) noexcept {
  try {
    return std::binary_search(std::begin(allowed), std::end(allowed), std::string_view{lower(name)});
  } catch (...) {
    return false;
  }
}

bool table_readable(std::string_view table) noexcept {
  try {
    return lower(table) != "sqlite_stmt";
  } catch (...) {
    return false;
  }
}

} // namespace p21::db_detail
