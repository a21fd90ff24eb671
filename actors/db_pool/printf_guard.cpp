#include "printf_guard.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>

#include <sqlite3.h>

namespace p21::db_detail {

int64_t least_printf_bytes(std::string_view format,
                           const std::function<int64_t(size_t)>& int_arg) {
  int64_t bytes = 0;
  auto add = [&bytes](int64_t n) { bytes = n > INT64_MAX - bytes ? INT64_MAX : bytes + n; };
  size_t arg = 0;
  size_t i = 0;
  auto at = [&]() -> char { return i < format.size() ? format[i] : '\0'; };
  auto magnitude = [](int64_t x) {
    // SQLite takes a negative `*` precision by its magnitude.
    return x < 0 ? (x == INT64_MIN ? INT64_MAX : -x) : x;
  };
  while (i < format.size()) {
    if (format[i++] != '%') {
      add(1);
      continue;
    }
    if (at() == '%') {
      add(1);
      ++i;
      continue;
    }
    while (at() == '-' || at() == '+' || at() == ' ' || at() == '#' || at() == '!' ||
           at() == '0' || at() == ',')
      ++i;
    if (at() == '*') {
      ++arg;
      ++i;
    } else {
      while (at() >= '0' && at() <= '9')
        ++i;
    }
    int64_t precision = 0;
    if (at() == '.') {
      ++i;
      if (at() == '*') {
        precision = magnitude(int_arg(arg++));
        ++i;
      } else {
        while (at() >= '0' && at() <= '9') {
          precision = std::min<int64_t>(precision * 10 + (at() - '0'), INT_MAX);
          ++i;
        }
      }
    }
    while (at() == 'l')
      ++i;
    if (i >= format.size())
      break;
    if (format[i++] == 'c' && precision > 1)
      add(precision);
    ++arg; // every conversion but %% takes one argument
  }
  return bytes;
}

namespace {

/// SQLite's own printf on a private connection, one statement per
/// argument count.
class printf_engine {
public:
  printf_engine(sqlite3* db, int64_t max_value_bytes)
    : db_(db)
    , max_value_bytes_(max_value_bytes) {
    // nop
  }

  ~printf_engine() {
    for (auto& kv : statements_)
      sqlite3_finalize(kv.second);
    sqlite3_close(db_);
  }

  printf_engine(const printf_engine&) = delete;
  printf_engine& operator=(const printf_engine&) = delete;

  void call(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (argc < 1)
      return; // NULL, as SQLite's printf()
    auto text = sqlite3_value_text(argv[0]);
    if (text == nullptr)
      return;
    std::string_view format{reinterpret_cast<const char*>(text),
                            static_cast<size_t>(sqlite3_value_bytes(argv[0]))};
    auto least = least_printf_bytes(format, [&](size_t i) -> int64_t {
      return static_cast<int>(i) + 1 < argc ? sqlite3_value_int64(argv[i + 1]) : 0;
    });
    if (least > max_value_bytes_) {
      too_big(ctx, "its text and %c precisions make at least " + std::to_string(least) +
                       " bytes");
      return;
    }
    auto stmt = statement(argc);
    if (stmt == nullptr) {
      sqlite3_result_error(ctx, sqlite3_errmsg(db_), -1);
      return;
    }
    for (int i = 0; i < argc; ++i)
      sqlite3_bind_value(stmt, i + 1, argv[i]);
    auto rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
      sqlite3_result_error(ctx, sqlite3_errmsg(db_), -1);
    else if (auto n = sqlite3_column_bytes(stmt, 0); n > max_value_bytes_)
      too_big(ctx, "its result has " + std::to_string(n) + " bytes");
    else
      sqlite3_result_value(ctx, sqlite3_column_value(stmt, 0));
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }

private:
  void too_big(sqlite3_context* ctx, const std::string& why) {
    auto msg = "printf(): " + why + ", beyond the largest value allowed (" +
               std::to_string(max_value_bytes_) + " bytes)";
    sqlite3_result_error(ctx, msg.c_str(), -1);
    sqlite3_result_error_code(ctx, SQLITE_TOOBIG);
  }

  sqlite3_stmt* statement(int argc) {
    auto& stmt = statements_[argc];
    if (stmt != nullptr)
      return stmt;
    std::string sql = "SELECT printf(";
    for (int i = 1; i <= argc; ++i)
      sql += (i > 1 ? ",?" : "?") + std::to_string(i);
    sql += ")";
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK)
      stmt = nullptr;
    return stmt;
  }

  sqlite3* db_;
  int64_t max_value_bytes_;
  std::map<int, sqlite3_stmt*> statements_;
};

void call_printf(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto& engine = *static_cast<std::shared_ptr<printf_engine>*>(sqlite3_user_data(ctx));
  engine->call(ctx, argc, argv);
}

void release(void* p) {
  delete static_cast<std::shared_ptr<printf_engine>*>(p);
}

} // namespace

std::string install_printf_guard(sqlite3* db, int64_t max_value_bytes) {
  sqlite3* own = nullptr;
  if (sqlite3_open_v2(":memory:", &own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(own);
    return "the printf guard's connection could not be opened";
  }
  // Twice the guarded connection's bound on one value, so that SQLite
  // keeps doubling its text up to any result the guard lets through (see
  // printf_guard.hpp); the guard checks the result's length itself.
  sqlite3_limit(own, SQLITE_LIMIT_LENGTH,
                static_cast<int>(std::min<int64_t>(2 * max_value_bytes, INT_MAX)));
  auto engine = std::make_shared<printf_engine>(own, max_value_bytes);
  // Innocuous and deterministic, as SQLite's own: usable in a schema with
  // trusted_schema off, and folded when its arguments are constant.
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  for (auto name : {"printf", "format"}) {
    auto user = new std::shared_ptr<printf_engine>(engine);
    // On failure SQLite calls `release` itself.
    if (sqlite3_create_function_v2(db, name, -1, flags, user, call_printf, nullptr, nullptr,
                                   release) != SQLITE_OK)
      return std::string{"the guarded "} + name + "() could not be registered";
  }
  return {};
}

} // namespace p21::db_detail
