// What a caller's SQL may reach besides the tables (issue 30, finding 2): the
// SQL functions, SQLite's limits and the bytes one result may hold. Each case
// failed before the connection hardened itself (see the commit that added it).

#include <catch2/catch.hpp>

#include <climits>
#include <fstream>
#include <string>

#include <sqlite3.h>

#include "actors/db_pool/connection.hpp"
#include "actors/db_pool/printf_guard.hpp"
#include "actors/db_pool/query_cache.hpp"
#include "actors/db_pool/sql_hardening.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::db_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<connection> open_with(connection_settings s) {
  auto c = connection::open(s);
  REQUIRE(c);
  return std::move(*c);
}

/// The refusal names what it refused.
void refused(const caf::expected<statement_result>& r, const std::string& what) {
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::bad_query));
  CHECK_THAT(render(r.error()), Catch::Contains(what));
}

/// The process's peak resident set since `reset_peak_rss`, in bytes (0
/// when /proc cannot tell).
uint64_t peak_rss() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

/// Resets the peak to the current RSS (Linux: `5` to clear_refs); false
/// when refused, and then the peak is that of the whole process so far.
bool reset_peak_rss() {
  std::ofstream out{"/proc/self/clear_refs"};
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

constexpr const char* many_rows = // 300 000 rows of 1 000 bytes: 300 MB and more
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) "
    "SELECT x, zeroblob(1000) FROM c";

} // namespace

// -- functions -----------------------------------------------------------------------

TEST_CASE("a read-only peer cannot reach fts3_tokenizer: the exploit is refused, the node "
          "survives and MATCH on an FTS4 table still works") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("pool.db");
  cfg.get<database_config>().pool_size = 1; // every read on the one reader the exploit targets
  cfg.get<database_config>().max_overflow = 0;
  cfg.get<database_config>().query_cache = false;
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE VIRTUAL TABLE docs USING fts4(body)"));
  REQUIRE(d.execute("INSERT INTO docs(body) VALUES ('alpha beta'), ('gamma')"));
  // What a published pool's proxy does with a peer's query: a request to the
  // pool actor, which runs it on a reader connection.
  auto pool = d.actor().value();
  auto peer_query = [&](const std::string& sql) {
    return rt.request<db_result>(pool, 30s, query_atom::value, sql, std::vector<db_value>{});
  };
  auto leak = peer_query("SELECT hex(fts3_tokenizer('simple'))");
  REQUIRE_FALSE(leak);
  CHECK(is(leak.error(), errc::bad_query));
  CHECK_THAT(render(leak.error()), Catch::Contains("fts3_tokenizer() is not allowed"));
  auto replace = peer_query("SELECT fts3_tokenizer('simple', x'4141414141414141')");
  REQUIRE_FALSE(replace);
  CHECK_THAT(render(replace.error()), Catch::Contains("fts3_tokenizer"));
  // The case and a schema prefix do not matter either.
  CHECK_FALSE(peer_query("SELECT FTS3_Tokenizer('simple', x'4141414141414141')"));
  // Before, the MATCH called through the planted pointer: a segfault.
  auto match = peer_query("SELECT count(*) FROM docs WHERE docs MATCH 'alpha'");
  REQUIRE(match);
  CHECK(match->rows.at(0).at(0).i == 1);
  // The writer refuses it too (execute), and so does the calling-thread path.
  CHECK_FALSE(d.execute("SELECT fts3_tokenizer('simple', x'4141414141414141')"));
  CHECK_FALSE(d.query("SELECT fts3_tokenizer('simple')"));
  CHECK(d.query("SELECT snippet(docs) FROM docs WHERE docs MATCH 'gamma'"));
  CHECK(d.execute("INSERT INTO docs(body) VALUES ('alpha delta')"));
  CHECK(d.query("SELECT count(*) FROM docs WHERE docs MATCH 'alpha'")->rows.at(0).at(0).i == 2);
}

TEST_CASE("SQL functions outside the allow-list are refused by name, while SQLite's pure ones, "
          "ALTER TABLE and the application's own functions still run") {
  temp_dir dir;
  connection_settings s;
  s.path = dir.file("f.db");
  s.on_connect = [](sqlite3* db) {
    sqlite3_create_function(
        db, "p21_answer", 0, SQLITE_UTF8, nullptr,
        [](sqlite3_context* ctx, int, sqlite3_value**) { sqlite3_result_int(ctx, 42); }, nullptr,
        nullptr);
  };
  auto writer = open_with(s);
  s.query_only = true;
  auto reader = open_with(s);
  for (auto* sql : {"SELECT fts3_tokenizer('simple')", "SELECT load_extension('x')",
                    "SELECT sqlite_compileoption_get(0)", "SELECT sqlite_compileoption_used('X')",
                    "SELECT rtreenode(2, x'00')", "SELECT sqlite_log(1, 'x')"}) {
    INFO(sql);
    auto name = std::string{sql}.substr(7, std::string{sql}.find('(') - 7);
    refused(reader->run(sql, {}), name);
    refused(writer->run(sql, {}), name);
  }
  auto pure = reader->run(
      "SELECT abs(-1), coalesce(NULL, 1), length('ab'), lower('A'), upper('a'), substr('abc', 2), "
      "instr('abc', 'b'), replace('a', 'a', 'b'), trim(' a '), round(1.5), hex('a'), typeof(1), "
      "ifnull(NULL, 1), nullif(1, 2), iif(1, 2, 3), printf('%d', 1), format('%s', 'x'), "
      "quote('a'), date('now'), time('now'), datetime('now'), julianday('now'), "
      "strftime('%s', 'now'), unixepoch('now'), current_timestamp, "
      "json_extract('{\"a\":1}', '$.a'), '{\"a\":1}' ->> '$.a', json_array(1, 2), random(), "
      "length(randomblob(4)), length(zeroblob(4)), 'a' LIKE 'A', 'a' GLOB 'a', max(1, 2), "
      "min(1, 2), sqrt(4), sqlite_version(), p21_answer()",
      {});
  REQUIRE(pure);
  CHECK(pure->result.rows.at(0).back().i == 42);
  auto aggregates = reader->run(
      "WITH t(x) AS (VALUES (1), (2), (3)) SELECT count(*), sum(x), total(x), avg(x), "
      "group_concat(x), json_group_array(x), max(x), min(x) FROM t",
      {});
  REQUIRE(aggregates);
  CHECK(aggregates->result.rows.at(0).at(0).i == 3);
  CHECK(reader->run("WITH t(x) AS (VALUES (1), (2)) SELECT row_number() OVER (ORDER BY x), "
                    "rank() OVER (ORDER BY x), lag(x) OVER (ORDER BY x) FROM t",
                    {}));
  // SQLite's ALTER TABLE runs internal functions through the authorizer.
  REQUIRE(writer->run("CREATE TABLE t(a, b)", {}));
  CHECK(writer->run("ALTER TABLE t RENAME TO u", {}));
  CHECK(writer->run("ALTER TABLE u RENAME COLUMN a TO z", {}));
  CHECK(writer->run("ALTER TABLE u DROP COLUMN b", {}));
  // Reading which statements other callers prepared on the connection.
  refused(reader->run("SELECT sql FROM sqlite_stmt", {}), "sqlite_stmt");
}

// -- limits --------------------------------------------------------------------------

TEST_CASE("every connection runs with fts3_tokenizer, trusted_schema and extensions off and "
          "SQLite's limits lowered") {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
  CHECK(harden(db, {8 << 20, false}).empty());
  auto setting = [&](int op) {
    int v = -1;
    sqlite3_db_config(db, op, -1, &v);
    return v;
  };
  CHECK(setting(SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER) == 0);
  CHECK(setting(SQLITE_DBCONFIG_TRUSTED_SCHEMA) == 0);
  CHECK(setting(SQLITE_DBCONFIG_DEFENSIVE) == 1);
  CHECK(setting(SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION) == 0);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1) == 8 << 20);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, -1) == 1 << 20);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, -1) == 0);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, -1) == 32766);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, -1) == 1000);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, -1) == 100);
  CHECK(sqlite3_limit(db, SQLITE_LIMIT_VDBE_OP, -1) == 2'000'000);
  sqlite3_close(db);
  // And a connection the pool opens is hardened: the two-argument form is
  // off even where the authorizer is not asked (the connection's own SQL).
  temp_dir dir;
  connection_settings s;
  s.path = dir.file("l.db");
  s.max_result_bytes = 1 << 20;
  s.query_only = true;
  auto c = open_with(s);
  refused(c->run("SELECT length(zeroblob(2000000))", {}), "too big");
  refused(c->run("SELECT 1 " + std::string(1 << 20, ' '), {}), "too big");
  refused(c->run("SELECT 'a' LIKE ?", {db_value::of(std::string(1001, '%'))}), "LIKE");
  CHECK(c->run("SELECT length(zeroblob(1000000))", {}));
}

// -- result bytes --------------------------------------------------------------------

TEST_CASE("a result past max_result_bytes is refused with bad_query, the peak RSS stays far "
          "below the result's size, and a result under the limit still works") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("pool.db");
  cfg.get<database_config>().pool_size = 1;
  cfg.get<database_config>().max_overflow = 0;
  REQUIRE(cfg.get<database_config>().max_result_bytes == 64u << 20); // the default, as a node runs it
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.query("SELECT 1")); // the reader is open before the peak is taken
  bool reset = reset_peak_rss();
  auto before = peak_rss();
  // One value of 300 MB: SQLite refuses it before it allocates
  // (SQLITE_LIMIT_LENGTH); before, the node peaked at 1.2 GB.
  auto one = d.query("SELECT zeroblob(300000000)");
  REQUIRE_FALSE(one);
  CHECK(is(one.error(), errc::bad_query));
  // 300 000 rows of 1 000 bytes: stepping stops at 64 MiB.
  auto rows = d.query(many_rows, {db_value::of(int64_t{300'000})});
  REQUIRE_FALSE(rows);
  CHECK(is(rows.error(), errc::bad_query));
  CHECK_THAT(render(rows.error()), Catch::Contains("max_result_bytes"));
  auto growth = peak_rss() - before;
  INFO("peak RSS grew by " << growth / (1 << 20) << " MiB (peak reset: " << reset << ")");
#if defined(__SANITIZE_ADDRESS__)
  // ASan's quarantine keeps freed memory resident on purpose: not judged.
#else
  CHECK(growth < 256u << 20); // the refused results: 300 MB and 300+ MB
#endif
  // Under the limit: 10 000 rows of 1 000 bytes.
  auto fine = d.query(many_rows, {db_value::of(int64_t{10'000})});
  REQUIRE(fine);
  CHECK(fine->rows.size() == 10'000);
  // The writer (execute) is bounded alike, and serves the next call.
  CHECK_FALSE(d.execute(many_rows, {db_value::of(int64_t{300'000})}));
  CHECK(d.execute("SELECT 1"));
}

TEST_CASE("max_result_bytes is bounded by SQLite's largest value") {
  auto cfg = test_config();
  cfg.get<database_config>().max_result_bytes = 2'000'000'000;
  CHECK_THROWS_WITH(validate(cfg), Catch::Contains("database.max_result_bytes"));
  cfg.get<database_config>().max_result_bytes = 1'000'000'000;
  CHECK_NOTHROW(validate(cfg));
  CHECK_THROWS_AS(load_config_string("[database]\nmax_result_bytes = \"1KiB\"\n"), config_error);
}

// -- the query cache's bytes ---------------------------------------------------------

TEST_CASE("through the pool, large results stay within query_cache_max_bytes") {
  temp_dir dir;
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("pool.db");
  cfg.get<database_config>().query_cache_max_bytes = 4 << 20;
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x)"));
  auto cache = rt.shared_object<query_cache>("db_pool");
  REQUIRE(cache);
  for (int i = 0; i < 12; ++i) {
    // 400 KiB each: under an eighth (512 KiB), twelve of them over the budget.
    auto r = d.query("SELECT zeroblob(400 * 1024 + ?) FROM (SELECT 1)", {db_value::of(i)});
    REQUIRE(r);
    CHECK(cache->bytes() <= 4u << 20);
  }
  CHECK(cache->bytes() > 2u << 20);
  auto big = d.query("SELECT zeroblob(600 * 1024)");
  REQUIRE(big);
  CHECK_FALSE(d.query("SELECT zeroblob(600 * 1024)")->cached);
}

TEST_CASE("the printf guard counts the bytes a format makes at least, as SQLite's printf reads it") {
  auto none = [](size_t) -> int64_t { return 0; };
  CHECK(least_printf_bytes("%.5c", none) == 5);
  CHECK(least_printf_bytes("%d %s %.3f", none) == 2);  // the two spaces
  CHECK(least_printf_bytes("%%.999c", none) == 6);     // "%" then ".999c", text
  CHECK(least_printf_bytes("ab%-10.40c%.7c", none) == 49);
  CHECK(least_printf_bytes("%!,.12c%c%.1c", none) == 12); // a precision of 0 or 1: one char, not counted
  CHECK(least_printf_bytes("%.99999999999999c", none) == INT_MAX); // as SQLite clamps it
  // `*` takes the next argument: here the second, after %d's.
  auto args = [](size_t i) -> int64_t { return i == 1 ? -1010000000 : 7; };
  CHECK(least_printf_bytes("%d%.*c", args) == 1010000000);
  CHECK(least_printf_bytes("%*d%.*c", args) == 7); // width * takes arg 0, %d arg 1
  CHECK(least_printf_bytes("%.5", none) == 0);     // cut short
  // Saturates instead of wrapping.
  auto huge = [](size_t) -> int64_t { return INT64_MAX; };
  CHECK(least_printf_bytes("x%.*c%.*c", huge) == INT64_MAX);
}

// printf('%.*c', N, 'x') appends one character at a time N times in SQLite
// 3.40 whatever the length limit: 40 s in one VM step, past any deadline (a
// fuzzer input; before the guard this case ran that long).
TEST_CASE("printf's %c precision past the largest value is refused at once, and printf and "
          "format still answer as SQLite's own") {
  temp_dir dir;
  connection_settings s;
  s.path = dir.file("p.db");
  s.max_result_bytes = 1 << 20;
  auto c = open_with(s);
  refused(c->run("SELECT printf('%.*c', 1010000000, 'x')", {}),
          "printf(): its text and %c precisions make at least 1010000000 bytes");
  refused(c->run("SELECT format('%.2000000c', 'x')", {}), "printf(): its text and %c");
  auto text = [&](const std::string& sql) {
    auto r = c->run(sql, {});
    REQUIRE(r);
    return r->result.rows.at(0).at(0).s;
  };
  CHECK(text("SELECT printf('%d-%s-%5.2f-%q', 3, 'ab', 2.5, 'it''s')") == "3-ab- 2.50-it''s");
  CHECK(text("SELECT format('%.*c', 5, 'x') || printf('%c', 'yz')") == "xxxxxy");
  auto big = c->run("SELECT length(printf('%.*c', 1000000, 'x'))", {});
  REQUIRE(big);
  CHECK(big->result.rows.at(0).at(0).i == 1000000);
  // Text before a repeat that takes it past half the limit: a fuzzer's
  // input (47 bytes, then a million) took 21 s under ASan while SQLite
  // grew its text one realloc per character; a 600 000-byte text and the
  // same repeat took 54 s even with the guard's own limit doubled. The
  // first now runs at once, the second is refused before it runs.
  auto text47 = c->run(
      "SELECT length(printf(replace(hex(zeroblob(47)), '00', 'z') || '%.*c', 1000000, 'x'))", {});
  REQUIRE(text47);
  CHECK(text47->result.rows.at(0).at(0).i == 1000047);
  refused(c->run("SELECT printf(replace(hex(zeroblob(300000)), '00', 'ab') || '%.*c', 1000000, "
                 "'x')",
                 {}),
          "printf(): its text and %c precisions make at least 1600000 bytes");
  // A result past the largest value from conversions the format cannot
  // count (two strings of 600 000 bytes): refused once made.
  refused(c->run("SELECT printf('%s%s', x, x) FROM (SELECT replace(hex(zeroblob(300000)), '00', "
                 "'ab') AS x)",
                 {}),
          "printf(): its result has 1200000 bytes");
  auto none = c->run("SELECT printf() IS NULL, printf(NULL, 1) IS NULL", {});
  REQUIRE(none);
  CHECK(none->result.rows.at(0).at(0).i == 1);
  CHECK(none->result.rows.at(0).at(1).i == 1);
  // In a schema, with trusted_schema off: innocuous, as SQLite's own.
  REQUIRE(c->run("CREATE TABLE t(id INTEGER PRIMARY KEY)", {}));
  REQUIRE(c->run("INSERT INTO t VALUES (7)", {}));
  REQUIRE(c->run("CREATE VIEW v AS SELECT printf('%03d', id) AS code FROM t", {}));
  CHECK(text("SELECT code FROM v") == "007");
}
