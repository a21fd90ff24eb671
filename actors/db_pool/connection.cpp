#include "connection.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "p21/db_config.hpp"
#include "p21/error.hpp"
#include "sql_guard.hpp"
#include "sql_hardening.hpp"

namespace p21::db_detail {

namespace {

std::string lower(const char* x) {
  std::string out = x ? x : "";
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// A write to the schema: whatever was cached may be stale.
constexpr const char* schema_change = "*";

/// VM steps between two looks at the deadline and the cancel generation.
/// One step can touch a whole value of up to SQLITE_LIMIT_LENGTH bytes
/// (`replace(hex(zeroblob(n)), ...)` in a loop), so the deadline can be
/// overshot by this many such steps: at 1000, a 200 ms deadline ran 1.7 s
/// under ASan and a fuzzer input past libFuzzer's 10 s; at 64 the look (a
/// vDSO clock read) costs under 1 % of a step-heavy query.
constexpr int progress_steps = 64;

using steady = std::chrono::steady_clock;

/// SQLite's word for `PRAGMA synchronous`, here rather than the config's
/// `to_string`, so that a connection needs none of the config code (the
/// `sql` fuzz target compiles the connection alone).
const char* pragma_word(synchronous_mode x) {
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
  return "NORMAL";
}

} // namespace

uint64_t result_bytes(const db_result& r) noexcept {
  uint64_t n = sizeof(db_result);
  for (auto& c : r.columns)
    n += sizeof(std::string) + c.size();
  for (auto& row : r.rows) {
    n += sizeof(db_row);
    for (auto& v : row)
      n += value_cost(v.s.size());
  }
  return n;
}

struct connection::call_scope {
  connection* self;
  ~call_scope() {
    if (--self->call_depth_ == 0) {
      self->deadline_ = steady::time_point::max();
      self->token_ = cancel_token{};
      self->interrupted_ = "";
    }
  }
};

connection::call_scope connection::begin_call(uint64_t generation) {
  if (call_depth_++ == 0) {
    interrupted_ = "";
    auto t = settings_.statement_timeout;
    deadline_ = t.count() > 0 ? steady::now() + t : steady::time_point::max();
    deadline_ = std::min(deadline_, caller_deadline_);
    caller_deadline_ = steady::time_point::max();
    token_ = std::move(caller_token_);
    caller_token_ = cancel_token{};
    auto now = settings_.cancel ? settings_.cancel->generation() : 0;
    generation_ = generation == current_generation ? now : generation;
  }
  return call_scope{this};
}

int connection::progress(void* self) {
  auto* c = static_cast<connection*>(self);
  if (c->settings_.cancel && c->settings_.cancel->generation() != c->generation_) {
    c->interrupted_ = "stop";
    return 1;
  }
  // The connection's own COMMIT or ROLLBACK finishes past a deadline.
  if (!c->trusted_ && c->deadline_ != steady::time_point::max() && steady::now() > c->deadline_) {
    c->interrupted_ = "deadline";
    return 1;
  }
  if (!c->trusted_ && c->token_.cancelled()) {
    c->interrupted_ = "cancel";
    return 1;
  }
  return 0;
}

caf::error connection::failure(int rc, const std::string& what) {
  if ((rc & 0xff) == SQLITE_INTERRUPT) {
    std::string why = interrupted_;
    if (why == "deadline")
      return make_error(errc::timeout, what + "the statement ran past statement_timeout (" +
                                           std::to_string(settings_.statement_timeout.count()) +
                                           " ms) and was interrupted");
    if (why == "cancel")
      return make_error(errc::cancelled, what + "the caller cancelled; statement interrupted");
    if (why == "stop")
      return make_error(errc::unavailable, what + "the pool is stopping; statement interrupted");
  }
  // A refused function reaches the caller as SQLITE_ERROR ("not authorized
  // to use function"), other refusals as SQLITE_AUTH: ours says why.
  if (((rc & 0xff) == SQLITE_AUTH || (rc & 0xff) == SQLITE_ERROR) && !denied_.empty())
    return make_error(errc::bad_query, what + "refused: " + denied_);
  return error_here(what);
}

connection::connection(connection_settings settings)
  : settings_(std::move(settings)) {
  // nop
}

connection::~connection() {
  for (auto& [sql, cs] : statements_)
    sqlite3_finalize(cs.stmt);
  if (db_ != nullptr)
    sqlite3_close_v2(db_);
}

caf::error connection::error_here(const std::string& what) const {
  return make_error(errc::bad_query, what + sqlite3_errmsg(db_));
}

caf::expected<std::unique_ptr<connection>> connection::open(const connection_settings& s) {
  std::unique_ptr<connection> c{new connection(s)};
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(s.path.c_str(), &c->db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = c->db_ ? sqlite3_errmsg(c->db_) : "out of memory";
    return make_error(errc::unavailable, "cannot open database '" + s.path + "': " + msg);
  }
  sqlite3_extended_result_codes(c->db_, 1);
  // Defensive options and limits (sql_hardening.cpp says which and why).
  if (auto why = harden(c->db_, {s.max_result_bytes, !s.query_only}); !why.empty())
    return make_error(errc::unavailable, "cannot open database '" + s.path + "': " + why);
  sqlite3_progress_handler(c->db_, progress_steps, &connection::progress, c.get());
  sqlite3_busy_timeout(c->db_, static_cast<int>(s.busy_timeout.count()));
  // WAL is a property of the file: the writer sets it. A reader changing it
  // too would race the writer's switch and fail with "database is locked".
  if (s.path != ":memory:" && !s.query_only) {
    if (auto err = c->exec("PRAGMA journal_mode=WAL"))
      return make_error(errc::unavailable,
                        "cannot open database '" + s.path + "' in WAL mode: " + render(err));
  }
  auto sync = std::string{"PRAGMA synchronous="} + pragma_word(s.synchronous);
  if (auto err = c->exec(sync.c_str()))
    return err;
  if (auto err = c->exec("PRAGMA foreign_keys=ON"))
    return err;
  if (s.query_only)
    if (auto err = c->exec("PRAGMA query_only=ON"))
      return err;
  if (s.on_connect) {
    // What on_connect registers is the application's own: allowed to
    // callers like SQLite's pure functions.
    auto before = c->function_names();
    s.on_connect(c->db_);
    for (auto& f : c->function_names())
      if (before.count(f) == 0)
        c->app_functions_.insert(f);
  }
  sqlite3_set_authorizer(c->db_, &connection::authorize, c.get());
  return c;
}

caf::error connection::exec(const char* sql) {
  // The connection's own SQL: no deadline (VACUUM may take long), but a
  // stopping pool still interrupts it.
  if (call_depth_ == 0) {
    interrupted_ = "";
    generation_ = settings_.cancel ? settings_.cancel->generation() : 0;
  }
  char* msg = nullptr;
  trusted_ = true;
  auto rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  trusted_ = false;
  if (rc != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errmsg(db_);
    sqlite3_free(msg);
    if ((rc & 0xff) == SQLITE_INTERRUPT)
      return failure(rc, std::string{sql} + ": ");
    return make_error(errc::bad_query, text);
  }
  return caf::none;
}

std::set<std::string> connection::function_names() {
  std::set<std::string> out;
  sqlite3_stmt* stmt = nullptr;
  trusted_ = true;
  if (sqlite3_prepare_v2(db_, "SELECT name FROM pragma_function_list", -1, &stmt, nullptr) ==
      SQLITE_OK)
    while (sqlite3_step(stmt) == SQLITE_ROW)
      out.insert(lower(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))));
  sqlite3_finalize(stmt);
  trusted_ = false;
  return out;
}

int connection::police(int action, const char* a, const char* b) {
  auto deny = [this](std::string why) {
    denied_ = std::move(why);
    return SQLITE_DENY;
  };
  bool reader = settings_.query_only;
  switch (action) {
  case SQLITE_ATTACH:
  case SQLITE_DETACH:
    // ATTACH creates files anywhere the node can write; VACUUM (INTO)
    // attaches its target, so this refuses it too.
    return deny("ATTACH, DETACH and VACUUM are not allowed");
  case SQLITE_PRAGMA:
    if (!pragma_allowed(a ? a : "", b ? b : "", !reader))
      return deny(std::string{"PRAGMA "} + (a ? a : "") + (b ? std::string{" = "} + b : "") +
                  " is not allowed");
    return SQLITE_OK;
  case SQLITE_FUNCTION:
    // An allow-list: fts3_tokenizer(), load_extension() and every function
    // not known to be pure are refused (sql_hardening.cpp).
    if (!function_allowed(b ? b : "") && app_functions_.count(lower(b)) == 0)
      return deny(std::string{"the SQL function "} + (b ? b : "") + "() is not allowed");
    return SQLITE_OK;
  case SQLITE_READ:
    if (!table_readable(a ? a : ""))
      return deny(std::string{"reading "} + (a ? a : "") + " is not allowed");
    return SQLITE_OK;
  case SQLITE_INSERT:
  case SQLITE_UPDATE:
  case SQLITE_DELETE:
    // A reader refuses these in `prepare` (sqlite3_stmt_readonly) and at run
    // time (`query_only`), not here: connecting a virtual table compiles
    // SQLite's and the module's own writes on a reader too (an UPDATE of
    // sqlite_master for every one, rtree's INSERT and DELETE on its shadow
    // tables), never to run them; refused here, every FTS4, FTS5 and rtree
    // table failed on readers with "vtable constructor failed".
    return SQLITE_OK;
  case SQLITE_CREATE_INDEX:
  case SQLITE_CREATE_TABLE:
  case SQLITE_CREATE_TEMP_INDEX:
  case SQLITE_CREATE_TEMP_TABLE:
  case SQLITE_CREATE_TEMP_TRIGGER:
  case SQLITE_CREATE_TEMP_VIEW:
  case SQLITE_CREATE_TRIGGER:
  case SQLITE_CREATE_VIEW:
  case SQLITE_CREATE_VTABLE:
  case SQLITE_DROP_INDEX:
  case SQLITE_DROP_TABLE:
  case SQLITE_DROP_TEMP_INDEX:
  case SQLITE_DROP_TEMP_TABLE:
  case SQLITE_DROP_TEMP_TRIGGER:
  case SQLITE_DROP_TEMP_VIEW:
  case SQLITE_DROP_TRIGGER:
  case SQLITE_DROP_VIEW:
  case SQLITE_DROP_VTABLE:
  case SQLITE_ALTER_TABLE:
  case SQLITE_REINDEX:
  case SQLITE_ANALYZE:
    if (reader)
      return deny("a read (query) is readonly: it cannot write or open a transaction; use execute");
    return SQLITE_OK;
  case SQLITE_TRANSACTION:
  case SQLITE_SAVEPOINT:
    // No caller's statement opens or ends a transaction. On a reader it
    // would pin an old snapshot between calls. On the writer, which every
    // caller shares, it would leave the next callers' writes acknowledged
    // but uncommitted: invisible to readers, and lost if the writer crashed.
    // The pool's own BEGIN IMMEDIATE / COMMIT run trusted (`exec`).
    if (reader)
      return deny("a read (query) is readonly: it cannot write or open a transaction; use execute");
    return deny("a statement cannot open or end a transaction (each execute commits on its own); "
                "use transaction for several statements");
  default:
    return SQLITE_OK;
  }
}

int connection::authorize(void* self, int action, const char* a, const char* b, const char*,
                          const char*) {
  auto* c = static_cast<connection*>(self);
  if (!c->trusted_)
    if (auto rc = c->police(action, a, b); rc != SQLITE_OK)
      return rc;
  if (c->recording_ == nullptr)
    return SQLITE_OK;
  auto& acc = *c->recording_;
  switch (action) {
  case SQLITE_READ:
    acc.reads.insert(lower(a));
    break;
  case SQLITE_INSERT:
  case SQLITE_UPDATE:
  case SQLITE_DELETE:
    // Writes to SQLite's own tables are schema changes, seen below.
    if (lower(a).rfind("sqlite_", 0) != 0)
      acc.writes.insert(lower(a));
    break;
  case SQLITE_CREATE_TABLE:
  case SQLITE_CREATE_VIEW:
  case SQLITE_CREATE_TRIGGER:
  case SQLITE_CREATE_INDEX:
  case SQLITE_DROP_TABLE:
  case SQLITE_DROP_VIEW:
  case SQLITE_DROP_TRIGGER:
  case SQLITE_DROP_INDEX:
  case SQLITE_ALTER_TABLE:
    acc.writes.insert(schema_change);
    break;
  default:
    break;
  }
  return SQLITE_OK;
}

caf::expected<connection::cached_statement*> connection::prepare(const std::string& sql) {
  auto i = statements_.find(sql);
  if (i != statements_.end()) {
    lru_.splice(lru_.begin(), lru_, i->second.lru);
    return &i->second;
  }
  cached_statement cs;
  const char* tail = nullptr;
  recording_ = &cs.access;
  denied_.clear();
  auto rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                               SQLITE_PREPARE_PERSISTENT, &cs.stmt, &tail);
  recording_ = nullptr;
  if (rc != SQLITE_OK)
    return failure(rc);
  if (cs.stmt == nullptr)
    return make_error(errc::bad_query, "empty statement");
  auto rest = tail ? std::string_view{tail, static_cast<size_t>(sql.data() + sql.size() - tail)}
                   : std::string_view{};
  if (!sql_tail_is_blank(rest)) {
    sqlite3_finalize(cs.stmt);
    return make_error(errc::bad_query, "one statement per call; found more after it: " +
                                           std::string{rest.substr(0, 40)});
  }
  if (settings_.query_only && !sqlite3_stmt_readonly(cs.stmt)) {
    sqlite3_finalize(cs.stmt);
    return make_error(errc::bad_query, "refused: a read (query) is readonly: it cannot write or "
                                       "open a transaction; use execute");
  }
  lru_.push_front(sql);
  cs.lru = lru_.begin();
  auto& stored = statements_[sql] = cs;
  if (statements_.size() > settings_.statement_cache) {
    auto victim = statements_.find(lru_.back());
    sqlite3_finalize(victim->second.stmt);
    statements_.erase(victim);
    lru_.pop_back();
  }
  return &stored;
}

caf::expected<statement_result>
connection::run(const std::string& sql, const std::vector<db_value>& params, uint64_t generation) {
  auto scope = begin_call(generation);
  if (settings_.cancel && generation_ != settings_.cancel->generation())
    return make_error(errc::unavailable, "the pool is stopping; statement not run");
  if (call_depth_ == 1) // not a statement of this connection's own transaction
    if (auto err = clear_leftovers())
      return err;
  denied_.clear();
  auto prepared = prepare(sql);
  if (!prepared)
    return prepared.error();
  auto* stmt = (*prepared)->stmt;
  statement_result out;
  out.access = (*prepared)->access;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  auto expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size())
    return make_error(errc::bad_query, "the statement expects " + std::to_string(expected) +
                                           " parameter(s), got " + std::to_string(params.size()));
  for (int i = 0; i < expected; ++i) {
    auto& p = params[static_cast<size_t>(i)];
    int rc = SQLITE_OK;
    switch (p.kind) {
    case db_value::null:
      rc = sqlite3_bind_null(stmt, i + 1);
      break;
    case db_value::integer:
      rc = sqlite3_bind_int64(stmt, i + 1, p.i);
      break;
    case db_value::real:
      rc = sqlite3_bind_double(stmt, i + 1, p.r);
      break;
    case db_value::text:
      rc = sqlite3_bind_text64(stmt, i + 1, p.s.data(), p.s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      break;
    case db_value::blob:
      rc = sqlite3_bind_blob64(stmt, i + 1, p.s.data(), p.s.size(), SQLITE_TRANSIENT);
      break;
    }
    if (rc != SQLITE_OK)
      return error_here("cannot bind parameter " + std::to_string(i + 1) + ": ");
  }
  auto& res = out.result;
  auto columns = sqlite3_column_count(stmt);
  for (int c = 0; c < columns; ++c)
    res.columns.emplace_back(sqlite3_column_name(stmt, c));
  // Counted before each row is copied, from the sizes SQLite reports (a
  // zeroblob is not even materialized to tell its size): a result past the
  // limit stops here, holding at most the limit.
  auto bytes = result_bytes(res);
  auto limit = settings_.max_result_bytes;
  for (;;) {
    auto rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_ROW) {
      auto err = failure(rc);
      sqlite3_reset(stmt);
      return err;
    }
    bytes += sizeof(db_row);
    for (int c = 0; c < columns; ++c) {
      auto type = sqlite3_column_type(stmt, c);
      bytes += value_cost(type == SQLITE_TEXT || type == SQLITE_BLOB
                              ? static_cast<size_t>(sqlite3_column_bytes(stmt, c))
                              : 0);
    }
    if (bytes > limit) {
      auto rows = res.rows.size();
      sqlite3_reset(stmt);
      res.rows = {};
      return make_error(errc::bad_query,
                        "the result grew past max_result_bytes (" + std::to_string(limit) +
                            " bytes) at row " + std::to_string(rows + 1) +
                            "; select fewer rows or smaller values");
    }
    db_row row;
    row.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_INTEGER:
        row.push_back(db_value::of(int64_t{sqlite3_column_int64(stmt, c)}));
        break;
      case SQLITE_FLOAT:
        row.push_back(db_value::of(sqlite3_column_double(stmt, c)));
        break;
      case SQLITE_TEXT:
        row.push_back(
            db_value::of(std::string{reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                                     static_cast<size_t>(sqlite3_column_bytes(stmt, c))}));
        break;
      case SQLITE_BLOB: {
        auto data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
        row.push_back(db_value::of_blob(
            std::string{data ? data : "", static_cast<size_t>(sqlite3_column_bytes(stmt, c))}));
        break;
      }
      default:
        row.push_back(db_value::of_null());
        break;
      }
    }
    res.rows.push_back(std::move(row));
  }
  if (!sqlite3_stmt_readonly(stmt)) {
    res.changes = sqlite3_changes64(db_);
    res.last_insert_rowid = sqlite3_last_insert_rowid(db_);
  }
  // Resetting ends the statement's implicit read transaction, so a reader
  // never pins an old WAL snapshot between calls.
  sqlite3_reset(stmt);
  return out;
}

caf::expected<std::pair<std::vector<db_result>, table_access>>
connection::transaction(const std::vector<db_statement>& statements, uint64_t generation) {
  // One deadline for the whole transaction.
  auto scope = begin_call(generation);
  if (settings_.cancel && generation_ != settings_.cancel->generation())
    return make_error(errc::unavailable, "the pool is stopping; transaction not run");
  if (auto err = clear_leftovers())
    return err;
  if (auto err = exec("BEGIN IMMEDIATE"))
    return err;
  std::vector<db_result> results;
  table_access access;
  for (size_t i = 0; i < statements.size(); ++i) {
    auto r = run(statements[i].sql, statements[i].params);
    if (!r) {
      static_cast<void>(exec("ROLLBACK"));
      return make_error(errc::bad_query,
                        "statement " + std::to_string(i + 1) + " of " +
                            std::to_string(statements.size()) +
                            " failed, transaction rolled back: " + render(r.error()));
    }
    access.merge(r->access);
    results.push_back(std::move(r->result));
  }
  if (auto err = exec("COMMIT")) {
    static_cast<void>(exec("ROLLBACK"));
    return err;
  }
  return std::make_pair(std::move(results), std::move(access));
}

bool connection::healthy() {
  auto r = run("SELECT 1", {});
  return r && r->result.rows.size() == 1 && r->result.rows[0][0].i == 1;
}

caf::expected<int64_t> connection::data_version() {
  auto r = run("PRAGMA data_version", {});
  if (!r)
    return r.error();
  if (r->result.rows.empty())
    return make_error(errc::bad_query, "PRAGMA data_version returned nothing");
  return r->result.rows[0][0].i;
}

caf::error connection::checkpoint() {
  return exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

caf::error connection::vacuum() {
  return exec("VACUUM");
}

int64_t connection::release_memory() {
  auto before = sqlite3_memory_used();
  sqlite3_db_release_memory(db_);
  return std::max<int64_t>(0, before - sqlite3_memory_used());
}

caf::error connection::clear_leftovers() {
  for (auto* s = sqlite3_next_stmt(db_, nullptr); s != nullptr; s = sqlite3_next_stmt(db_, s))
    if (sqlite3_stmt_busy(s)) {
      ++leftovers_;
      auto* sql = sqlite3_sql(s);
      spdlog::warn("sqlite {}: a statement was left stepping (reset now): {}", settings_.path,
                   sql != nullptr ? sql : "?");
      sqlite3_reset(s);
    }
  if (sqlite3_get_autocommit(db_) == 0) {
    ++leftovers_;
    spdlog::warn("sqlite {}: a transaction was left open (rolled back now)", settings_.path);
    if (auto err = exec("ROLLBACK"))
      return make_error(errc::unavailable,
                        "the connection was left inside a transaction that cannot be rolled "
                        "back: " +
                            render(err));
  }
  return caf::none;
}

void connection::reset_state() {
  if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0)
    static_cast<void>(exec("ROLLBACK"));
}

} // namespace p21::db_detail
