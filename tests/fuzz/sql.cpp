// Fuzzer-chosen SQL on a reader connection opened by the pool's own code
// (`connection::open` with `query_only`: the authorizer, the function
// allow-list, SQLite's limits, the defensive settings, max_result_bytes), as
// a published pool runs a peer's `query`. The database holds a plain table,
// a view and an FTS4 table; after every input a MATCH on the FTS4 table
// must still find its rows, so that an input which plants something in the
// connection (fts3_tokenizer's pointer) crashes within that same input.
//
// Differences from a node's reader, each because a fuzzer needs it: a
// statement deadline of 200 ms (a node's default is 30 s; libFuzzer's
// -timeout is 10 s), no parameters (a statement that wants some fails), and
// max_result_bytes (so SQLITE_LIMIT_LENGTH) of 1 MiB instead of 64 MiB:
// SQLite holds every column of a row at once before the result is counted,
// so a 4 KiB input can name ~100 values of the largest size, 6 GB at 64 MiB
// (a gap the hard heap limit must close, not the result bound), which would
// end every run at libFuzzer's 2 GB -rss_limit_mb instead of finding bugs.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "actors/db_pool/connection.hpp"
#include "p21/error.hpp"

namespace {

using p21::db_detail::connection;
using p21::db_detail::connection_settings;

class fixture {
public:
  fixture() {
    char tmpl[] = "/tmp/p21-fuzz-sql-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      std::abort();
    dir_ = tmpl;
    connection_settings s;
    s.path = dir_ + "/fuzz.db";
    s.statement_timeout = std::chrono::milliseconds{200};
    s.max_result_bytes = 1 << 20;
    s.cancel = std::make_shared<p21::db_detail::statement_cancel>();
    writer_ = open(s);
    for (auto* sql : {"CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, price REAL, data BLOB)",
                      "INSERT INTO t VALUES (1, 'alpha', 1.5, x'00ff'), (2, 'beta', NULL, NULL)",
                      "CREATE VIEW v AS SELECT id, upper(name) AS n FROM t",
                      "CREATE INDEX t_name ON t(name)",
                      "CREATE VIRTUAL TABLE docs USING fts4(body)",
                      "INSERT INTO docs(body) VALUES ('alpha beta'), ('gamma alpha'), ('delta')"})
      if (!writer_->run(sql, {}))
        std::abort();
    s.query_only = true;
    reader_ = open(s);
  }

  ~fixture() {
    reader_.reset();
    writer_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  connection& reader() { return *reader_; }

private:
  static std::unique_ptr<connection> open(const connection_settings& s) {
    auto c = connection::open(s);
    if (!c)
      std::abort();
    return std::move(*c);
  }

  std::string dir_;
  std::unique_ptr<connection> writer_;
  std::unique_ptr<connection> reader_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fixture f;
  std::string sql{reinterpret_cast<const char*>(data), size};
  static_cast<void>(f.reader().run(sql, {}));
  // The connection must still serve, and MATCH still tokenize.
  auto match = f.reader().run("SELECT count(*) FROM docs WHERE docs MATCH 'alpha'", {});
  if (!match || match->result.rows.size() != 1 || match->result.rows[0].at(0).i != 2) {
    std::fprintf(stderr, "MATCH on the FTS4 table failed after the input: %s\n",
                 match ? "wrong count" : p21::render(match.error()).c_str());
    std::abort();
  }
  return 0;
}
