#pragma once

// One SQLite connection as plain C++: WAL and pragmas set on open, a
// prepared-statement cache, bound parameters only, and the tables each
// statement reads and writes (from SQLite's authorizer). Blocking: only the
// pool's own connection threads call it, never CAF's scheduler threads.

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "p21/cancel_token.hpp"
#include "p21/config.hpp"
#include "p21/db_config.hpp"
#include "p21/protocol/db_pool.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace p21::db_detail {

/// Interrupts the statements running on every connection that shares it,
/// from any thread: a stopping pool must not wait for a runaway query.
/// Statements started afterwards run normally.
class statement_cancel {
public:
  /// Interrupts what runs now (SQLite sees it within a few thousand VM steps).
  void interrupt_running() noexcept { generation_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t generation() const noexcept { return generation_.load(std::memory_order_relaxed); }

private:
  std::atomic<uint64_t> generation_{0};
};

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
  /// A caller's statement (or transaction) running longer is interrupted
  /// and fails with `timeout`; zero: no deadline.
  std::chrono::milliseconds statement_timeout{0};
  /// Shared by a pool's connections; may be null.
  std::shared_ptr<statement_cancel> cancel;
  /// What one statement's result may hold, in bytes (`result_bytes`), and
  /// the largest single value (`SQLITE_LIMIT_LENGTH`); a result growing past
  /// it stops stepping and fails with `bad_query`.
  uint64_t max_result_bytes = 64ull << 20;
};

/// What a value costs in a result: its `db_value` plus the bytes of a text
/// or blob. A row costs its `db_row` plus its values; the result's column
/// names count too. The same measure bounds one result
/// (`max_result_bytes`) and charges the query cache.
constexpr uint64_t value_cost(size_t payload) noexcept {
  return sizeof(db_value) + payload;
}
uint64_t result_bytes(const db_result& r) noexcept;

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

  /// The cancel generation a call runs in when the caller names none: the
  /// current one.
  static constexpr uint64_t current_generation = UINT64_MAX;

  /// Runs one statement with bound parameters. Errors: `bad_query` with
  /// SQLite's message (syntax, missing table, constraint, parameter count),
  /// or a refusal; `timeout` past `statement_timeout`; `unavailable` when
  /// the cancel generation is no longer `generation` (a caller that belongs
  /// to a stopped pool runs nothing).
  caf::expected<statement_result> run(const std::string& sql, const std::vector<db_value>& params,
                                      uint64_t generation = current_generation);

  /// Runs `statements` all-or-nothing inside `BEGIN IMMEDIATE` (so a read in
  /// it never upgrades into SQLITE_BUSY), within one `statement_timeout`.
  caf::expected<std::pair<std::vector<db_result>, table_access>>
  transaction(const std::vector<db_statement>& statements,
              uint64_t generation = current_generation);

  /// The next caller's statement or transaction (not nested ones) is
  /// interrupted with `timeout` at `deadline` too, if that comes before
  /// `statement_timeout`, and with `cancelled` when `token` is cancelled
  /// before it commits: a caller who gave up.
  void limit_next_call(std::chrono::steady_clock::time_point deadline,
                       cancel_token token = {}) noexcept {
    caller_deadline_ = deadline;
    caller_token_ = std::move(token);
  }

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

  /// Leftovers found (and undone) before a call: statements still stepping
  /// and transactions left open by an earlier one. Always 0 unless a path
  /// forgot to clean up (see `clear_leftovers`).
  uint64_t leftovers() const noexcept { return leftovers_; }

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
  /// The names of the SQL functions the connection knows now (lower case).
  std::set<std::string> function_names();
  /// Undoes what an earlier call may have left behind, before a caller's
  /// statement or transaction runs: a statement still stepping holds the
  /// connection's read transaction open, so every later read here would see
  /// an old WAL snapshot; an open transaction would take in a later write
  /// that is acknowledged but never committed. Neither should happen; each
  /// is undone, counted and logged. Fails only when an open transaction
  /// cannot be rolled back (the call then does not run).
  caf::error clear_leftovers();
  caf::error error_here(const std::string& what) const;
  /// The error for a statement that failed with `rc`: a deadline, a stop or
  /// a refusal read better than SQLite's "interrupted" or "not authorized".
  caf::error failure(int rc, const std::string& what = {});
  /// Starts a caller's statement or transaction (nested calls keep the
  /// outer deadline); the returned object ends it.
  struct call_scope;
  call_scope begin_call(uint64_t generation);
  static int authorize(void* self, int action, const char* a, const char* b, const char* db,
                       const char* trigger);
  /// What the authorizer says to a caller's statement: SQLITE_OK or
  /// SQLITE_DENY (with `denied_` set).
  int police(int action, const char* a, const char* b);
  static int progress(void* self);

  connection_settings settings_;
  sqlite3* db_ = nullptr;
  /// The SQL functions `on_connect` registered (lower case): the
  /// application's own, allowed besides `function_allowed`'s.
  std::set<std::string> app_functions_;
  std::unordered_map<std::string, cached_statement> statements_;
  std::list<std::string> lru_;
  /// Filled by the authorizer while a statement is being prepared.
  table_access* recording_ = nullptr;
  /// Set while the connection runs its own SQL (pragmas, VACUUM, BEGIN):
  /// the authorizer then allows what it refuses callers.
  bool trusted_ = false;
  /// Why the authorizer last refused, for the error.
  std::string denied_;
  /// A caller's call in progress: its deadline (max: none) and the cancel
  /// generation it started in.
  int call_depth_ = 0;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  uint64_t generation_ = 0;
  /// `limit_next_call`'s deadline and cancel token, taken by the next call.
  std::chrono::steady_clock::time_point caller_deadline_ = std::chrono::steady_clock::time_point::max();
  cancel_token caller_token_;
  /// The call in progress's cancel token (a default one never cancels).
  cancel_token token_;
  /// Why the progress handler interrupted: "" (not), "deadline", "cancel",
  /// "stop".
  const char* interrupted_ = "";
  uint64_t leftovers_ = 0;
};

} // namespace p21::db_detail
