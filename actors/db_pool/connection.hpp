#pragma once

// One SQLite connection as plain C++: WAL and pragmas set on open, a
// prepared-statement cache, bound parameters only, and the tables each
// statement reads and writes (from SQLite's authorizer). Blocking: only the
// pool's own connection threads call it, never CAF's scheduler threads.

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "p21/config.hpp"
#include "p21/protocol/db_pool.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace p21::db_detail {

/// How connections are opened.
struct connection_settings {
  std::string path;
  /// `OFF`, `NORMAL` (default in WAL), `FULL` or `EXTRA`.
  synchronous_mode synchronous = synchronous_mode::normal;
  std::chrono::milliseconds busy_timeout{5000};
  /// Prepared statements kept per connection.
  size_t statement_cache = 64;
  /// Readers refuse writes (`PRAGMA query_only`), so that the pool's single
  /// writer is the only one that ever takes the write lock.
  bool query_only = false;
  /// Called with every new connection, e.g. to register SQL functions.
  std::function<void(sqlite3*)> on_connect;
};

/// The tables a statement (or a transaction) reads and writes.
struct table_access {
  std::set<std::string> reads;
  std::set<std::string> writes;

  void merge(const table_access& other) {
    reads.insert(other.reads.begin(), other.reads.end());
    writes.insert(other.writes.begin(), other.writes.end());
  }
};

/// A statement's result and the tables it touched.
struct statement_result {
  db_result result;
  table_access access;
};

class connection {
public:
  /// Opens `settings.path` and applies WAL, busy_timeout, synchronous and
  /// foreign keys. Errors name the path and SQLite's message.
  static caf::expected<std::unique_ptr<connection>> open(const connection_settings& settings);

  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Runs one statement with bound parameters. Errors: `bad_query` with
  /// SQLite's message (syntax, missing table, constraint, parameter count).
  caf::expected<statement_result> run(const std::string& sql, const std::vector<db_value>& params);

  /// Runs `statements` all-or-nothing inside `BEGIN IMMEDIATE` (so a read in
  /// it never upgrades into SQLITE_BUSY).
  caf::expected<std::pair<std::vector<db_result>, table_access>>
  transaction(const std::vector<db_statement>& statements);

  /// `SELECT 1` answered correctly.
  bool healthy();

  /// SQLite's `PRAGMA data_version`: changes when another connection (or
  /// process) commits.
  caf::expected<int64_t> data_version();

  /// Checkpoints the WAL into the database file (TRUNCATE).
  caf::error checkpoint();

  /// Rebuilds the file, returning free pages to the file system.
  caf::error vacuum();

  /// Frees what SQLite can of this connection's memory; returns bytes freed.
  int64_t release_memory();

  /// Rolls back a transaction left open, so the connection goes back clean.
  void reset_state();

  /// Prepared statements currently cached.
  size_t cached_statements() const noexcept { return statements_.size(); }

  const connection_settings& settings() const noexcept { return settings_; }

private:
  struct cached_statement {
    sqlite3_stmt* stmt = nullptr;
    table_access access;
    std::list<std::string>::iterator lru;
  };

  explicit connection(connection_settings settings);

  caf::expected<cached_statement*> prepare(const std::string& sql);
  caf::error exec(const char* sql);
  caf::error error_here(const std::string& what) const;
  static int authorize(void* self, int action, const char* a, const char* b, const char* db,
                       const char* trigger);

  connection_settings settings_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, cached_statement> statements_;
  std::list<std::string> lru_;
  /// Filled by the authorizer while a statement is being prepared.
  table_access* recording_ = nullptr;
};

} // namespace p21::db_detail
