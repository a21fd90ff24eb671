// The non-blocking forms of the db, cache and subprocess handles: results,
// retry across a pool restart, no retry of a bad query, and a caller's
// deadline carried into the pool (queued work past it is dropped).

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "p21/async.hpp"
#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/faults.hpp"
#include "p21/subprocess.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

config async_config(const temp_dir& dir) {
  auto cfg = test_config();
  cfg.get<database_config>().path = dir.file("async.db");
  cfg.get<database_config>().pool_size = 2;
  return cfg;
}

uint64_t db_retries(runtime& rt) {
  return p21::detail::call_retries(rt, "db_pool").value();
}

} // namespace

TEST_CASE("db async forms return futures of the same results as the blocking ones") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.async_execute("CREATE TABLE t(x INTEGER)").get_for(10s));
  auto txn = d.async_transaction({{"INSERT INTO t VALUES (1)", {}}, {"INSERT INTO t VALUES (2)", {}}})
                 .get_for(10s);
  REQUIRE(txn);
  CHECK(txn->size() == 2);
  auto q = d.async_query("SELECT sum(x) FROM t WHERE x > ?", {db_value::of(0)}).get_for(10s);
  REQUIRE(q);
  CHECK(q->rows[0][0].i == 3);
  // The same read again: a query-cache hit, complete when it returns.
  auto again = d.async_query("SELECT sum(x) FROM t WHERE x > ?", {db_value::of(0)});
  CHECK(again.ready());
  CHECK(again.get().value().cached);
}

TEST_CASE("a db query across a pool restart succeeds within its deadline") {
  temp_dir dir;
  auto cfg = async_config(dir);
  // A restart long enough for the queries below to be made inside it.
  cfg.supervisor.backoff_initial = 300ms;
  cfg.supervisor.backoff_max = 300ms;
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  REQUIRE(d.execute("INSERT INTO t VALUES (5)"));
  for (int round = 0; round < 2; ++round) {
    REQUIRE_FALSE(crash_db_writer(rt));
    REQUIRE(eventually([&] { return !rt.running_actor_of("db_pool"); }));
    auto before = db_retries(rt);
    auto f = d.async_query("SELECT x + ? FROM t", {db_value::of(round)}, {5s});
    auto r = f.get_for(10s);
    REQUIRE(r);
    CHECK(r->rows[0][0].i == 5 + round);
    CHECK(db_retries(rt) > before);
    CHECK(rt.component("db_pool")->restarts == round + 1u);
  }
}

TEST_CASE("a db bad_query is not retried") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  auto before = db_retries(rt);
  call_options opts{5s};
  opts.retry.resend = true;
  auto r = d.async_query("SELEC nope", {}, opts).get_for(10s);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::bad_query));
  auto w = d.async_execute("INSERT INTO missing VALUES (1)", {}, opts).get_for(10s);
  REQUIRE_FALSE(w);
  CHECK(is(w.error(), errc::bad_query));
  CHECK(db_retries(rt) == before);
}

TEST_CASE("a write queued behind a slow one past its caller's deadline is dropped, not run") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  // Keeps the single writer busy for far longer than the next caller waits.
  auto slow = d.async_execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                              "WHERE x < 200000000) SELECT count(*) FROM c",
                              {}, {1500ms});
  auto queued = d.async_execute("INSERT INTO t VALUES (1)", {}, {100ms});
  auto r = queued.get_for(10s);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::timeout));
  // The slow statement itself is interrupted at its caller's deadline.
  auto s = slow.get_for(10s);
  REQUIRE_FALSE(s);
  CHECK(is(s.error(), errc::timeout));
  // The writer is free again and never ran the dropped insert.
  CHECK(d.query("SELECT count(*) FROM t").value().rows[0][0].i == 0);
}

TEST_CASE("cache async_get_or_load loads a miss once through an async loader and hits after") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE kv(k TEXT, v TEXT)"));
  REQUIRE(d.execute("INSERT INTO kv VALUES ('a', 'alpha')"));
  auto c = cache::open(rt, "async").value();
  std::atomic<int> loads{0};
  auto loader = [&]() -> future<std::string> {
    ++loads;
    promise<std::string> out;
    future<std::string> f{out};
    auto shared = std::make_shared<promise<std::string>>(std::move(out));
    d.async_query("SELECT v FROM kv WHERE k = 'a'").then([shared](caf::expected<db_result> r) {
      if (!r)
        shared->set(r.error());
      else
        shared->set(r->rows.at(0).at(0).s);
    });
    return f;
  };
  auto f1 = c.async_get_or_load("key-a", loader);
  auto f2 = c.async_get_or_load("key-a", loader);
  CHECK(f1.get_for(10s).value() == "alpha");
  CHECK(f2.get_for(10s).value() == "alpha");
  CHECK(loads == 1);
  auto hit = c.async_get_or_load("key-a", loader);
  CHECK(hit.ready());
  CHECK(hit.get().value() == "alpha");
  CHECK(loads == 1);
  // A failing loader's error reaches the caller; nothing is cached.
  auto failed = c.async_get_or_load("key-b", [] {
    return make_ready_future<std::string>(make_error(errc::command_failed, "no"));
  });
  CHECK(is(failed.get_for(10s).error(), errc::command_failed));
  CHECK_FALSE(c.get("key-b").value());
}

TEST_CASE("subprocess async_run completes with the command's output") {
  runtime rt{test_config()};
  auto sp = subprocess::open(rt).value();
  command_request req;
  req.argv = {"echo", "hi"};
  auto r = sp.async_run(req).get_for(30s);
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_data == "hi\n");
  auto bad = sp.async_run(command_request{}).get_for(30s);
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), errc::invalid_argument));
}

TEST_CASE("async writes made one after another by one thread are applied in that order") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(seq INTEGER PRIMARY KEY AUTOINCREMENT, x INTEGER)"));
  std::vector<future<db_result>> writes;
  for (int i = 0; i < 200; ++i)
    writes.push_back(d.async_execute("INSERT INTO t(x) VALUES (?)", {db_value::of(i)}));
  for (auto& w : writes)
    REQUIRE(w.get_for(10s));
  auto rows = d.query("SELECT x FROM t ORDER BY seq").value().rows;
  REQUIRE(rows.size() == 200);
  int out_of_order = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i][0].i != int64_t(i))
      ++out_of_order;
  CHECK(out_of_order == 0);
}

TEST_CASE("a cancelled write queued behind a long one is never applied") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  // Holds the single writer until its own deadline interrupts it (2 s).
  auto slow = d.async_execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                              "WHERE x < 200000000) SELECT count(*) FROM c",
                              {}, {2s});
  // Queued behind it, with a deadline long enough to outlive it.
  auto queued = d.async_execute("INSERT INTO t VALUES (1)", {}, {30s});
  // This thread's next call reaches the pool after it: once the pool has
  // answered, the insert is with the writer, sent, and cancel has to
  // withdraw it there.
  REQUIRE(async_call<db_pool_stats>(rt, "db_pool", {10s}, stats_atom::value).get_for(10s));
  CHECK(queued.cancel());
  auto s = slow.get_for(20s);
  REQUIRE_FALSE(s);
  CHECK(is(s.error(), errc::timeout));
  // Made by this thread after it, so the writer takes it up after the
  // cancelled one: when it is applied, the cancelled one was dropped.
  REQUIRE(d.async_execute("INSERT INTO t VALUES (2)", {}, {30s}).get_for(30s));
  CHECK(d.query("SELECT count(*) FROM t WHERE x = 1").value().rows[0][0].i == 0);
  CHECK(d.query("SELECT count(*) FROM t WHERE x = 2").value().rows[0][0].i == 1);
}

TEST_CASE("a cancelled write that was applied stays applied") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  auto w = d.async_execute("INSERT INTO t VALUES (1)", {}, {30s});
  REQUIRE(w.get_for(30s));
  CHECK_FALSE(w.cancel()); // completed: nothing to withdraw, nothing undone
  CHECK(d.query("SELECT count(*) FROM t").value().rows[0][0].i == 1);
}

TEST_CASE("an async read of a db pool that rule 4 unloaded starts it again") {
  temp_dir dir;
  runtime rt{async_config(dir)};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  REQUIRE(d.execute("INSERT INTO t VALUES (4)"));
  REQUIRE(rt.unload("db_pool").value());
  CHECK_FALSE(rt.component("db_pool")->running);
  auto r = d.async_query("SELECT x FROM t", {}, {5s}).get_for(10s);
  REQUIRE(r);
  CHECK(r->rows[0][0].i == 4);
  CHECK(rt.component("db_pool")->running);
  CHECK(rt.component("db_pool")->starts == 2);
}

TEST_CASE("a cancelled read waiting for a reader connection leaves the queue at once") {
  temp_dir dir;
  auto cfg = async_config(dir);
  auto& db_cfg = cfg.get<database_config>();
  db_cfg.pool_size = 1;
  db_cfg.max_overflow = 0;
  db_cfg.statement_timeout = 3s; // ends the slow read below
  runtime rt{cfg};
  auto d = db::open(rt).value();
  REQUIRE(d.execute("CREATE TABLE t(x INTEGER)"));
  // A blocking read holds the only reader connection for 3 s.
  std::atomic<bool> slow_done{false};
  std::thread slow{[&] {
    auto reader = db::open(rt).value();
    static_cast<void>(reader.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                   "FROM c WHERE x < 200000000) SELECT count(*) FROM c"));
    slow_done = true;
  }};
  REQUIRE(eventually([&] { return d.stats().value().in_use == 1; }));
  auto queued = d.async_query("SELECT count(*) FROM t", {}, {30s});
  REQUIRE(eventually([&] { return d.stats().value().waiting == 1; }));
  CHECK(queued.cancel());
  // Its place goes now, not when the connection frees.
  CHECK(eventually([&] { return d.stats().value().waiting == 0; }, 2s));
  CHECK_FALSE(slow_done);
  slow.join();
}
